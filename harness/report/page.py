"""``index.html``: the review page of a stage run, where a person decides whether the rollout
may advance. One self-contained file: screenshots embedded as data URIs, no network, a
Content-Security-Policy that admits only the page's own style and script (by hash).

The page is ``templates/page.html`` rendered with autoescaping (``harness.report.templating``):
everything that can come from an audited site is escaped there. This module gathers what the
template shows, in the order a reviewer needs it: the decision and its reasons, the figures,
the failures first (the report lists cases mismatch, inconclusive, ignored, match), each with
its first divergence side by side, its screenshots and the command that reproduces it; the
previous stage's report and the rollout ledger, linked relatively so the report directory can
be opened from disk. The page states only what the data shows: "equal" only where the
digests are equal.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup
from PIL import Image

from harness.report.latency import latency_medians
from harness.report.pixelzoom import MARGIN, changed_pixels, zoom_box, zoomed_png
from harness.report.repro import repro_command, stage_command
from harness.report.result import (
    Artifacts,
    ArtifactScreenshot,
    CaseResult,
    StageReport,
    TransportRun,
)
from harness.report.templating import html_environment, template_source
from veritas.parent import ledger
from veritas.parent.mode import STAGES

VERDICTS = ("mismatch", "inconclusive", "ignored", "match")
#: What a difference's ``change`` (deepdiff's name) means, with the two sides' names.
_CHANGE = {
    "values_changed": "the values differ",
    "type_changes": "the types differ",
    "dictionary_item_added": "only in {right}",
    "dictionary_item_removed": "only in {left}",
    "iterable_item_added": "only in {right}",
    "iterable_item_removed": "only in {left}",
    "attribute_added": "only in {right}",
    "attribute_removed": "only in {left}",
    "set_item_added": "only in {right}",
    "set_item_removed": "only in {left}",
}
#: Diff rows shown per case; longer values are cut (report.yaml keeps them whole).
MAX_PATHS = 40
MAX_VALUE = 600


def runs_text(runs: list[TransportRun]) -> str:
    """[["queue", 0, 50], ["stdout", 50, 69]] -> "queue 0–49 · stdout 50–118"."""
    return " · ".join(f"{t} {first}–{first + n - 1}" for t, first, n in runs)


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) < MAX_VALUE else text[:MAX_VALUE] + "…"


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _data_uri(path: Path) -> str:
    return _png_uri(path.read_bytes())


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def shots_statement(case: CaseResult) -> str:
    """What the screenshot digests show, in words that claim no more than that."""
    left, right = case.screenshots.stdout, case.screenshots.queue
    if not left and not right:
        return ""
    differ = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
    if not differ:
        return f"{len(left)} screenshots; pixel digests equal in both modes."
    rules = ", ".join(case.ignored_by)
    masked = f" (masked by the ignore rules: {rules})" if case.verdict == "ignored" else ""
    return (
        f"{len(set(left) | set(right))} screenshots; pixel digests differ for "
        f"{len(differ)}: {', '.join(differ[:10])}{masked}."
    )


@dataclass
class Figure:
    caption: str
    src: str


@dataclass
class Shot:
    label: str
    note: str
    figures: list[Figure]
    #: The same three, cropped around the changed pixels and enlarged (empty: no zoom).
    zoom: list[Figure] = field(default_factory=list)
    zoom_text: str = ""
    #: The changed pixels' values side by side (the first few), and how many changed.
    pixels: list[dict[str, str]] = field(default_factory=list)
    pixels_total: int = 0


@dataclass
class Divergence:
    """The first divergence in words, and the differing fields side by side."""

    headline: str
    left: str
    right: str
    rows: list[dict[str, str]]
    more: int


@dataclass
class CaseView:
    case: CaseResult
    open: bool
    repro: str
    search: str
    divergence: Divergence | None
    #: The two runs compared (stdout and queue, or stdout and a noise run).
    sides: list[str]
    shots: list[Shot] = field(default_factory=list)
    #: (side, text) of each side's events around the divergence.
    events: list[tuple[str, str]] = field(default_factory=list)
    statement: str = ""


def _rows(paths: list[dict[str, Any]], left: str, right: str) -> list[dict[str, str]]:
    return [
        {
            "path": str(p.get("path")),
            "change": _CHANGE.get(str(p.get("change")), str(p.get("change"))).format(
                left=left, right=right
            ),
            "left": _value(p.get("left")) if "left" in p else "—",
            "right": _value(p.get("right")) if "right" in p else "—",
        }
        for p in paths[:MAX_PATHS]
    ]


def divergence(case: CaseResult) -> Divergence | None:
    """The first divergence of a case, in words a reviewer reads without the event format."""
    diff = case.first_difference
    if diff is None:
        return None
    left, right = (case.artifacts or Artifacts()).sides[:2]
    n_left, n_right = [*diff.lengths, 0, 0][:2]
    what = f"a {diff.type} event" if diff.type else "an event"
    phase = f" of phase {diff.phase}" if diff.phase else ""
    fields = len(diff.paths)
    headline = (
        f"The streams first diverge at event #{diff.index}, {what}{phase}: "
        f"{fields} field{'' if fields == 1 else 's'} differ{'s' if fields == 1 else ''}."
    )
    if n_left != n_right:
        headline += f" {left} delivered {n_left} events, {right} {n_right}."
    else:
        headline += f" Both delivered {n_left} events."
    return Divergence(
        headline=headline,
        left=left,
        right=right,
        rows=_rows(diff.paths, left, right),
        more=max(0, fields - MAX_PATHS),
    )


def _shot(shot: ArtifactScreenshot, adir: Path, sides: dict[str, str]) -> Shot:
    """A differing screenshot: both sides and the diff image, and a zoom on a small change."""
    files = [
        (sides.get(key, "diff: changed pixels in red"), adir / name)
        for key, name in (("left", shot.left), ("right", shot.right), ("diff", shot.diff))
        if name and (adir / name).is_file()
    ]
    view = Shot(
        label=shot.label,
        note=shot.note or "",
        figures=[Figure(caption=caption, src=_data_uri(path)) for caption, path in files],
    )
    if shot.bbox is None or not files:
        return view
    try:
        with Image.open(files[0][1]) as image:
            size = image.size
    except OSError:
        return view
    found = zoom_box(shot.bbox, size)
    if found is None:  # a change this large shows in the images themselves
        return view
    if shot.left and shot.right:
        values, view.pixels_total = changed_pixels(adir / shot.left, adir / shot.right, shot.bbox)
        view.pixels = [
            {"at": f"x {x}, y {y}", "left": _rgba(a), "right": _rgba(b)} for x, y, a, b in values
        ]
    box, scale = found
    for caption, path in files:
        png = zoomed_png(path, box, scale)
        if png is not None:
            view.zoom.append(Figure(caption=caption, src=_png_uri(png)))
    view.zoom_text = (
        f"Enlarged ×{scale}: x {box[0]}–{box[2] - 1}, y {box[1]}–{box[3] - 1} "
        f"(the changed pixels and {MARGIN} px around them)"
    )
    return view


def _rgba(pixel: tuple[int, ...]) -> str:
    return "rgba(" + ", ".join(str(v) for v in pixel) + ")"


def _case_view(case: CaseResult, run_dir: Path, repro: str) -> CaseView:
    artifacts = case.artifacts or Artifacts()
    adir = run_dir / "cases" / artifacts.dir
    sides = dict(zip(("left", "right"), artifacts.sides, strict=False))
    shots = [_shot(shot, adir, sides) for shot in artifacts.screenshots]
    events = [
        (sides.get(key, key), (adir / name).read_text(encoding="utf-8", errors="replace")[:20000])
        for key, name in (("left", artifacts.left_events), ("right", artifacts.right_events))
        if name and (adir / name).is_file()
    ]
    return CaseView(
        case=case,
        open=not case.passed,
        repro=repro,
        search=" ".join([case.id, case.url, *case.tags, *case.reasons]).lower(),
        divergence=divergence(case),
        sides=list(artifacts.sides[:2]),
        shots=shots,
        events=events,
        statement=shots_statement(case),
    )


@dataclass
class Link:
    """A relative link from the page to another file of the report directory (None: absent)."""

    text: str
    href: str | None
    note: str = ""


def _peek(run: Path) -> dict[str, Any]:
    """A run's report.yaml, read but not checked: the link only points at it (``harness
    gate`` checks the run it rests on)."""
    try:
        data = yaml.safe_load((run / "report.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def previous_stage_link(report_dir: Path, stage: float) -> Link:
    """The previous stage's latest whole run (else its newest run) in *report_dir*, and
    whether its gate passed when it was written."""
    index = STAGES.index(stage) if stage in STAGES else 0
    if index == 0:
        return Link(f"stage {stage:g} is the first stage: no previous stage", None)
    previous = STAGES[index - 1]
    stage_dir = report_dir / f"stage-{previous:g}"
    names = sorted(p.name for p in stage_dir.iterdir()) if stage_dir.is_dir() else []
    runs = [
        (stage_dir / name, _peek(stage_dir / name))
        for name in names
        if not name.startswith(".") and (stage_dir / name / "index.html").is_file()
    ]
    if not runs:
        return Link(f"no report of stage {previous:g} in this report directory", None)
    whole = [(run, data) for run, data in runs if (data.get("scope") or {}).get("gating") is True]
    (run, data), which = (
        (whole[-1], "its latest whole run")
        if whole
        else (runs[-1], "its newest run, not a whole one")
    )
    passed = (data.get("gate") or {}).get("passed")
    outcome = "gate unknown" if passed is None else "gate passed" if passed else "gate failed"
    return Link(
        f"stage {previous:g} report",
        f"../../stage-{previous:g}/{run.name}/index.html",
        f"{which}, {run.name}: {outcome} when written",
    )


def _ledger(report_dir: Path) -> tuple[Link, list[dict[str, Any]], str]:
    """The ledger's link, its entries (chain verified) and why they cannot be shown, if so."""
    if not (report_dir / ledger.LEDGER).is_file():
        return Link(f"no rollout decision recorded yet ({ledger.LEDGER} absent)", None), [], ""
    link = Link(f"rollout ledger ({ledger.LEDGER})", f"../../{ledger.LEDGER}")
    try:
        return link, ledger.read_ledger(report_dir), ""
    except ledger.LedgerError as exc:
        return link, [], f"the ledger cannot be trusted: {exc}"


def _gate_target(stage: float, entries: list[dict[str, Any]]) -> float | None:
    """The stage this run's validation lets the rollout advance to (``harness gate --to``)."""
    index = STAGES.index(stage) if stage in STAGES else -1
    started = any(e.get("stage") is not None for e in entries)
    if index == 0 and not started:
        return stage
    return STAGES[index + 1] if 0 <= index < len(STAGES) - 1 else None


def render_html(report: StageReport, run_dir: Path, rollout: dict[str, Any] | None = None) -> str:
    """The review page of the run written into *run_dir* (``<reports>/stage-S/<run-id>/``).

    *rollout* (``{"ledger": [...], "cohorts": {...} | None, "checked": {"at", "passed",
    "reasons"}}``) is what ``harness review`` reads when it refreshes the page: the ledger, the
    production cohorts and the gate checked again against the current policy and checkout,
    which the page then leads with. Otherwise the ledger beside the stage directories is read,
    without cohorts, and the page shows the gate recorded in the report.
    """
    report_dir = run_dir.parent.parent
    prov = report["provenance"]
    ledger_link, entries, ledger_problem = _ledger(report_dir)
    if rollout is not None:
        entries = list(rollout.get("ledger") or [])
    # Failures first, whatever order the report was given in (it lists them so already).
    ordered = sorted(report["cases"], key=lambda c: VERDICTS.index(c.verdict))
    cases = [
        _case_view(c, run_dir, repro_command(report["stage"], prov["corpus_dirs"], c.id))
        for c in ordered
    ]
    # The gate checked again by ``harness review`` (current policy and checkout) decides.
    checked = (rollout or {}).get("checked")
    target = _gate_target(report["stage"], entries)
    style, script = template_source("page.css"), template_source("page.js")
    csp = (
        "default-src 'none'; img-src data:; "
        f"style-src {_csp_hash(style)}; script-src {_csp_hash(script)}"
    )
    return (
        html_environment()
        .get_template("page.html")
        .render(
            report=report,
            gate=checked or report["gate"],
            checked_at=(checked or {}).get("at"),
            written_passed=report["gate"]["passed"],
            totals=report["totals"],
            prov=prov,
            verdicts=VERDICTS,
            cases=cases,
            failing=[v for v in cases if not v.case.passed],
            tags=sorted({tag for c in report["cases"] for tag in c.tags}),
            latency=latency_medians(report["cases"]),
            previous=previous_stage_link(report_dir, report["stage"]),
            ledger_link=ledger_link,
            ledger_entries=entries,
            ledger_problem=ledger_problem,
            cohorts=(rollout or {}).get("cohorts"),
            reviewed=rollout is not None,
            gate_target=None if target is None else f"{target:g}",
            stage=f"{report['stage']:g}",
            rerun=stage_command(report["stage"], prov["corpus_dirs"]),
            failover_cases=sum(
                1
                for c in report["cases"]
                if c.failover and c.runs.queue.attested_transport != "queue"
            ),
            runs_text=runs_text,
            masked_rows=lambda c: _rows(c.masked_differences, "stdout", "queue"),
            csp=csp,
            # Files of the package, embedded as they are (their hashes are in the CSP).
            style=Markup(style),
            script=Markup(script),
        )
    )
