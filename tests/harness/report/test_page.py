"""The review page and summary.md: what a reviewer reads first, the links, the latency
figures, the templates shipped with the package, and escaping."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from harness.cli import main as harness_main
from harness.report.latency import latency_medians
from harness.report.page import render_html
from harness.report.result import CaseResult, Latency, StageReport, TransportRun
from harness.report.summary import render_summary
from harness.report.templating import html_environment, markdown_environment, md_text
from harness.report.writer import staging, write_files
from harness.rollout import ledger

# The report builders of the report tests (imported by name at run time, as the ledger tests do).
_reports: Any = importlib.import_module("tests.harness.report.test_reports")
GOOD: list[CaseResult] = _reports.GOOD
HOSTILE: str = _reports.HOSTILE
case = _reports.case
report = _reports.report

#: Enough cases for any stage's minimum of audits.
MANY = [case(f"m{i}") for i in range(25)]
ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "harness" / "report" / "templates"


class Page(HTMLParser):
    """The page's structure: elements with an id or a class, in document order, and links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.order: list[tuple[str, dict[str, str]]] = []
        self.hrefs: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.order.append((tag, a))
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])

    def position(self, **want: str) -> int:
        for i, (_, a) in enumerate(self.order):
            if all(a.get(k, "").split()[:1] == [v] or a.get(k) == v for k, v in want.items()):
                return i
        raise AssertionError(f"no element with {want}")

    def verdicts(self) -> list[str]:
        return [
            a["data-verdict"] for tag, a in self.order if tag == "details" and "data-verdict" in a
        ]


def with_latency(
    c: CaseResult, stdout: tuple[float, float], queue: tuple[float, float]
) -> CaseResult:
    runs = dataclasses.replace(
        c.runs,
        stdout=dataclasses.replace(
            c.runs.stdout, latency=Latency(p50_ms=stdout[0], p99_ms=stdout[1], max_ms=stdout[1])
        ),
        queue=dataclasses.replace(
            c.runs.queue, latency=Latency(p50_ms=queue[0], p99_ms=queue[1], max_ms=queue[1])
        ),
    )
    return dataclasses.replace(c, runs=runs)


def write_run(report_dir: Path, r: StageReport) -> Path:
    run = report_dir / f"stage-{r['stage']:g}" / r["run_id"]
    with staging(run) as tmp:
        write_files(tmp, r)
    return run


# -- what comes first ---------------------------------------------------------------------


def test_the_decision_and_its_reasons_come_before_everything_else(tmp_path: Path) -> None:
    failing = report([*GOOD, case("bad", "mismatch")])
    page = Page(render_html(failing, tmp_path))
    decision = page.position(id="decision")
    assert decision < page.position(**{"class": "figures"}) < page.position(id="case-bad")
    html = render_html(failing, tmp_path)
    section = html[html.index('id="decision"') : html.index("</section>")]
    assert "Gate FAILED" in section and "1 mismatches (at most 0 allowed)" in section
    assert "pytest harness/ --stage 0.1 -n auto" in section  # what to do next

    passing = render_html(report(GOOD), tmp_path)
    section = passing[passing.index('id="decision"') : passing.index("</section>")]
    assert "Gate PASSED" in section and "harness gate --to 0.1" in section
    assert "<title>Stage 0.1 · gate passed" in passing


def test_failures_come_first_whatever_order_the_report_lists(tmp_path: Path) -> None:
    cases = [
        case("a-match"),
        case("b-ignored", "ignored", ignored_by=["r"]),
        case("c-inconclusive", "inconclusive"),
        case("d-mismatch", "mismatch"),
        *GOOD,
    ]
    r = report(cases)
    r["cases"] = list(reversed(r["cases"]))  # as a report read from elsewhere might be
    page = Page(render_html(r, tmp_path))
    verdicts = page.verdicts()
    assert verdicts[:3] == ["mismatch", "inconclusive", "ignored"]
    assert set(verdicts[3:]) == {"match"}
    html = render_html(r, tmp_path)
    # Failing cases are open; passing ones closed until clicked.
    assert re.search(r'id="case-d-mismatch"[^>]* open>', html)
    assert not re.search(r'id="case-a-match"[^>]* open>', html)


def test_each_case_gives_the_command_that_reproduces_it(tmp_path: Path) -> None:
    odd = "it's <odd>"
    html = render_html(report([*GOOD, case("bad", "mismatch"), case(odd, "mismatch")]), tmp_path)
    assert "<code>pytest harness/ --stage 0.1 -k bad</code>" in html
    # shlex-quoted, then HTML-escaped: the text a browser shows is the exact command.
    assert (
        "<code>pytest harness/ --stage 0.1 -k &#39;it&#39;&#34;&#39;&#34;&#39;s &lt;odd&gt;&#39;</code>"
        in html
    )
    assert "-k c3</code>" in html  # passing cases too


def test_the_first_divergence_is_told_in_words_with_both_values_side_by_side(
    tmp_path: Path,
) -> None:
    bad = case(
        "bad",
        "mismatch",
        first_difference={
            "index": 7,
            "type": "finding",
            "phase": "security",
            "lengths": [12, 11],
            "paths": [
                {
                    "path": "events[7]['detail']",
                    "change": "values_changed",
                    "left": "A",
                    "right": "B",
                },
                {
                    "path": "events[7]['summary']['x']",
                    "change": "dictionary_item_added",
                    "right": 1,
                },
            ],
        },
    )
    html = render_html(report([*GOOD, bad]), tmp_path)
    assert (
        "The streams first diverge at event #7, a finding event of phase security: 2 fields "
        "differ. stdout delivered 12 events, queue 11." in html
    )
    row = html[html.index("events[7][&#39;detail&#39;]") :]
    row = row[: row.index("</tr>")]
    assert re.search(r'class="left">A</td><td class="right">B</td>', row)
    assert "only in queue" in html


def test_a_differing_screenshot_shows_both_sides_the_diff_a_zoom_and_the_pixel_values(
    tmp_path: Path,
) -> None:
    adir = tmp_path / "cases" / "bad"
    adir.mkdir(parents=True)
    left = Image.new("RGBA", (40, 30), (45, 74, 62, 255))
    right = left.copy()
    right.putpixel((3, 4), (46, 74, 62, 255))
    diff = Image.new("RGB", (40, 30), "white")
    for name, image in (("l.png", left), ("r.png", right), ("d.png", diff)):
        image.save(adir / name)
    bad = case(
        "bad",
        "mismatch",
        artifacts={
            "dir": "bad",
            "sides": ["stdout", "queue"],
            "screenshots": [
                {
                    "label": "home",
                    "left": "l.png",
                    "right": "r.png",
                    "diff": "d.png",
                    "note": "1 pixel differs within x 3–3, y 4–4 (box 1×1)",
                    "bbox": [3, 4, 4, 5],
                }
            ],
        },
    )
    html = render_html(report([*GOOD, bad]), tmp_path)
    assert html.count('src="data:image/png;base64,') == 6  # three images and their zooms
    assert "Enlarged ×16: x 0–9, y 0–10" in html
    assert '<td>x 3, y 4</td><td class="left mono">rgba(45, 74, 62, 255)</td>' in html
    assert '<td class="right mono">rgba(46, 74, 62, 255)</td>' in html


def test_the_page_shows_which_transport_delivered_which_events(tmp_path: Path) -> None:
    fo = case("fo", transport="mixed", failover=True)
    queue = dataclasses.replace(
        fo.runs.queue,
        transport_runs=[TransportRun("queue", 0, 50), TransportRun("stdout", 50, 69)],
    )
    fo = dataclasses.replace(fo, runs=dataclasses.replace(fo.runs, queue=queue))
    page = render_html(report([*GOOD, fo]), tmp_path)
    assert "queue 0–49 · stdout 50–118" in page


def test_an_ignored_case_shows_its_rules_and_what_they_masked(tmp_path: Path) -> None:
    ignored = case(
        "quote",
        "ignored",
        ignored_by=["ref"],
        ignore_rules=[
            {"name": "ref", "reason": "a random reference", "masked": {"stdout": 2, "queue": 2}}
        ],
        masked_differences=[
            {
                "path": "events[3]['detail']",
                "change": "values_changed",
                "left": "QB-1",
                "right": "QB-2",
            }
        ],
        screenshots={"stdout": {"home": "sha256:a"}, "queue": {"home": "sha256:b"}},
    )
    page = render_html(report([*GOOD, ignored]), tmp_path)
    assert "a random reference" in page and "QB-1" in page and "QB-2" in page
    assert "pixel digests differ for 1: home (masked by the ignore rules: ref)" in page
    assert "pixel digests equal" not in page


def test_harness_review_puts_the_gate_checked_now_first(tmp_path: Path) -> None:
    r = report(GOOD)
    r["provenance"]["code"]["digest"] = "sha256:" + "0" * 64  # written by other code: stale
    run = write_run(tmp_path, r)
    assert "Gate PASSED" in (run / "index.html").read_text(encoding="utf-8")
    assert harness_main(["--report-dir", str(tmp_path), "review"]) == 1
    html = (run / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="decision"') : html.index("</section>")]
    assert "Gate FAILED" in section and "stale: the code changed since the report" in section
    assert "Checked again by <code>harness review</code> at " in section
    assert "when the report was written, its gate passed" in section
    assert "<title>Stage 0.1 · gate FAILED" in html


# -- links ---------------------------------------------------------------------------------


def _hrefs_resolve(page_path: Path) -> list[str]:
    hrefs = Page(page_path.read_text(encoding="utf-8")).hrefs
    for href in hrefs:
        if href.startswith("#"):
            continue
        assert not re.match(r"^[a-z][a-z0-9+.-]*:", href) and not href.startswith("/"), href
        assert (page_path.parent / href).resolve().is_file(), href
    return hrefs


def test_the_page_links_the_previous_stage_and_the_ledger_relatively(tmp_path: Path) -> None:
    whole = write_run(tmp_path, report(GOOD, run_id="20260101T000000000Z-1"))
    # A newer run of stage 0.1 that covers only part of the corpus: not the evidence.
    write_run(
        tmp_path,
        report(GOOD[:2], corpus=[c.id for c in GOOD], run_id="20260102T000000000Z-1"),
    )
    entry = {"kind": "advance", "stage": 0.1, "by": "ann", "reason": "<b>go</b>"}
    ledger.append(tmp_path, {**entry, "at": "2026-01-02T00:00:00+00:00"})
    run = write_run(tmp_path, report(MANY, stage=0.25, run_id="20260103T000000000Z-1"))
    hrefs = _hrefs_resolve(run / "index.html")
    assert f"../../stage-0.1/{whole.name}/index.html" in hrefs
    assert "../../ROLLOUT.jsonl" in hrefs and "report.yaml" in hrefs and "summary.md" in hrefs
    html = (run / "index.html").read_text(encoding="utf-8")
    assert f"its latest whole run, {whole.name}: gate passed when written" in html
    assert "&lt;b&gt;go&lt;/b&gt;" in html  # the ledger's entries, escaped
    assert "harness gate --to 0.5" in html
    # A ledger whose chain is broken is shown as such, never as a list of decisions.
    (tmp_path / ledger.LEDGER).write_text(json.dumps({**entry, "at": "2026-01-02"}) + "\n")
    run = write_run(tmp_path, report(MANY, stage=0.25, run_id="20260103T000000000Z-1"))
    html = (run / "index.html").read_text(encoding="utf-8")
    assert "the ledger cannot be trusted" in html and "&lt;b&gt;go" not in html


def test_without_a_previous_stage_or_ledger_the_page_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path, report(GOOD))
    hrefs = _hrefs_resolve(run / "index.html")
    assert not any("ROLLOUT" in h or "stage-" in h for h in hrefs)
    html = (run / "index.html").read_text(encoding="utf-8")
    assert "stage 0.1 is the first stage: no previous stage" in html
    assert "no rollout decision recorded yet (ROLLOUT.jsonl absent)" in html
    run = write_run(tmp_path, report(GOOD, stage=0.5))
    assert "no report of stage 0.25 in this report directory" in (run / "index.html").read_text()


# -- latency -------------------------------------------------------------------------------

LATENCY_CASES = [
    with_latency(case("a"), (1.0, 10.0), (0.5, 4.0)),
    with_latency(case("b"), (2.0, 30.0), (0.7, 9.0)),
    with_latency(case("c"), (4.0, 20.0), (3.0, 5.0)),
    with_latency(case("d"), (3.0, 40.0), (0.9, 6.0)),
    GOOD[0],  # p50 1.0 and p99 2.0 in both modes
]


def test_latency_medians_are_over_cases_per_mode() -> None:
    got = latency_medians(LATENCY_CASES)
    assert got is not None and got.cases == 5 and got.left_out == 0
    stdout, queue = got.modes
    # stdout p50s 1, 2, 4, 3, 1 -> 2; p99s 10, 30, 20, 40, 2 -> 20 (their mean would be 20.4)
    assert (stdout.mode, stdout.p50_ms, stdout.p99_ms) == ("stdout", 2.0, 20.0)
    # queue p50s .5, .7, 3, .9, 1 -> .9; p99s 4, 9, 5, 6, 2 -> 5
    assert (queue.mode, queue.p50_ms, queue.p99_ms) == ("queue", 0.9, 5.0)


def test_a_case_whose_run_delivered_nothing_is_left_out_of_the_latency() -> None:
    empty = case("empty")
    empty = dataclasses.replace(
        empty,
        runs=dataclasses.replace(empty.runs, queue=dataclasses.replace(empty.runs.queue, events=0)),
    )
    got = latency_medians([with_latency(case("a"), (1.0, 2.0), (3.0, 4.0)), empty])
    assert got is not None and got.cases == 1 and got.left_out == 1
    assert [(m.p50_ms, m.p99_ms) for m in got.modes] == [(1.0, 2.0), (3.0, 4.0)]
    assert latency_medians([empty]) is None


def test_the_page_and_the_summary_show_the_latency_medians(tmp_path: Path) -> None:
    r = report(LATENCY_CASES)
    html = render_html(r, tmp_path)
    block = html[html.index('id="latency"') :]
    block = block[: block.index("</table>")]
    assert "median over 5 cases" in block
    assert '<td>stdout</td><td class="num">2.000</td><td class="num">20.000</td>' in block
    assert '<td>queue</td><td class="num">0.900</td><td class="num">5.000</td>' in block
    summary = render_summary(r)
    assert "median over 5 cases" in summary
    assert "| stdout | 2.000 | 20.000 |" in summary and "| queue | 0.900 | 5.000 |" in summary


# -- templates and escaping ----------------------------------------------------------------


def _data_files(package: Path) -> set[str]:
    return {
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize("package", ["harness", "veritas"])
def test_every_data_file_is_package_data(package: str) -> None:
    """What setuptools installs: each package-data pattern globbed in the package directory
    (``*.json`` there is not ``report/schema.json``)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"][package]
    shipped = {
        p.relative_to(ROOT / package).as_posix()
        for pattern in patterns
        for p in (ROOT / package).glob(pattern)
        if p.is_file()
    }
    assert _data_files(ROOT / package) - shipped == set()


def test_the_templates_are_files_of_the_package() -> None:
    assert {"page.html", "page.css", "page.js", "summary.md"} <= _data_files(TEMPLATES)
    # The renderers load them from the package, not from strings in code.
    assert html_environment().get_template("page.html").filename == str(TEMPLATES / "page.html")
    md = markdown_environment().get_template("summary.md")
    assert md.filename == str(TEMPLATES / "summary.md")


def test_html_autoescapes_and_markdown_does_not() -> None:
    html = html_environment().from_string("{{ x }}")
    assert html.render(x="<b>&") == "&lt;b&gt;&amp;"
    assert html.render(x="\ud800\x00") == "\\ud800\\x00"  # made visible, then escaped
    md = markdown_environment().from_string("{{ x }}")
    assert md.render(x="<b>&|x\ny") == "\\<b\\>\\&\\|x y"


def test_a_hostile_string_in_every_field_never_reaches_the_page_as_markup(tmp_path: Path) -> None:
    bad = case(
        HOSTILE,
        "mismatch",
        tier=HOSTILE,
        tags=[HOSTILE],
        url=HOSTILE,
        first_difference={
            "index": 0,
            "type": HOSTILE,
            "phase": HOSTILE,
            "lengths": [1, 1],
            "paths": [{"path": HOSTILE, "change": HOSTILE, "left": HOSTILE, "right": [HOSTILE]}],
        },
    )
    ignored = case(
        "ign",
        "ignored",
        ignored_by=[HOSTILE],
        ignore_rules=[{"name": HOSTILE, "reason": HOSTILE, "masked": {"stdout": 1, "queue": 1}}],
        masked_differences=[
            {"path": HOSTILE, "change": "values_changed", "left": HOSTILE, "right": HOSTILE}
        ],
    )
    fo = case("fo", transport="mixed", failover=True)
    queue = dataclasses.replace(
        fo.runs.queue, fallback_reason=HOSTILE, transport_runs=[TransportRun(HOSTILE, 0, 1)]
    )
    fo = dataclasses.replace(fo, runs=dataclasses.replace(fo.runs, queue=queue))
    r = report([*GOOD, bad, ignored, fo])
    r["normalization"] = [{"name": HOSTILE, "description": HOSTILE, "applied": 1}]
    r["provenance"]["author"] = HOSTILE
    rollout = {
        "ledger": [{"kind": HOSTILE, "by": HOSTILE, "reason": HOSTILE, "at": HOSTILE}],
        "cohorts": None,
    }
    html = render_html(r, tmp_path, rollout=rollout)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;alert(2)&lt;/script&gt;") > 15
    parsed = Page(html)
    assert [tag for tag, _ in parsed.order].count("script") == 1
    assert not any(tag == "img" and "onerror" in a for tag, a in parsed.order)


def test_the_page_admits_only_its_own_style_and_script(tmp_path: Path) -> None:
    html = render_html(report(GOOD), tmp_path)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1)
    assert policy.startswith("default-src &#39;none&#39;; img-src data:; style-src &#39;sha256-")
    assert "unsafe-inline" not in policy
    import base64
    import hashlib

    script = html[html.index("<script>") + 8 : html.index("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src &#39;sha256-{digest}&#39;" in policy


def test_summary_cells_cannot_break_the_table(tmp_path: Path) -> None:
    nasty = "a|b\nc <script> *em* [x](y)"
    r = report([*GOOD, case(nasty, "mismatch", reasons=[nasty])])
    summary = render_summary(r)
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    cells = {len(re.split(r"(?<!\\)\|", row)) for row in rows if "verdict" in row or "a\\|b" in row}
    assert cells == {8}  # six cells between seven unescaped pipes, every row
    # Outside code spans (where Markdown reads nothing as markup) no tag is left.
    assert "<script>" not in re.sub(r"`[^`]*`", "", summary) and "\\<script\\>" in summary
    assert "\\*em\\*" in summary and "\\[x\\](y)" in summary
    assert "- a\\|b c \\<script\\>" in summary  # the case's repro line, on one line
    assert md_text("x\ny") == "x y"


def test_summary_lists_the_command_for_each_failing_case() -> None:
    summary = render_summary(report([*GOOD, case("bad", "mismatch")]))
    assert "- bad: `pytest harness/ --stage 0.1 -k bad`" in summary
