"""Writing a stage report: ``reports/stage-<S>/<run-id>/`` with report.yaml and summary.md.

The controller writes it once, at the end of the run, into a temporary directory that is
renamed into place, so a report directory is either complete or absent.

Everything in a report that can be derived from its cases is derived here, by the functions
that ``harness.report.check`` uses again when the report is read: the totals, whether the run
can gate at all (``scope``) and the gate itself. A report therefore says of itself whether it
is whole and clean: every case of the corpus ran (no ``-k``, ``-m``, ``--lf``, ``--deselect``,
no missing shard) and no test-only setting was in the run's environment.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.policy import load_policy
from harness.report.gate import decide_gate
from harness.report.provenance import test_only_settings
from harness.report.result import CaseResult, StageReport, report_to_dict
from veritas.parent.console import visible

SCHEMA_VERSION = 2
VERDICT_ORDER = {"mismatch": 0, "inconclusive": 1, "ignored": 2, "match": 3}


def totals(cases: list[CaseResult]) -> dict[str, Any]:
    counts = dict.fromkeys(VERDICT_ORDER, 0)
    for case in cases:
        counts[case.verdict] += 1
    audits = {
        "stdout": sum(1 + len(c.runs.noise) for c in cases),
        "queue": len(cases),
    }
    attested = sum(1 for c in cases if c.runs.queue.attested_transport == "queue")
    return {"cases": len(cases), **counts, "audits_per_mode": audits, "queue_attested": attested}


def _listed(ids: Iterable[str], limit: int = 8) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def scope(
    corpus_cases: Sequence[str],
    cases: list[CaseResult],
    environment: dict[str, str],
    shard: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Whether a run covers the whole corpus with no test-only setting, and if not, why."""
    ran = [c.id for c in cases]
    missing = set(corpus_cases) - set(ran)
    unknown = set(ran) - set(corpus_cases)
    twice = {i for i in ran if ran.count(i) > 1}
    reasons = []
    if missing:
        if shard:
            how = f"shard {shard[0]}/{shard[1]}: merge every shard of the run to gate"
        else:
            how = "a selection (-k, -m, --lf, --deselect), or cases that did not finish"
        reasons.append(
            f"ran {len(set(ran) & set(corpus_cases))} of the corpus's {len(corpus_cases)} cases "
            f"({how}); missing: {_listed(missing)}"
        )
    if unknown:
        reasons.append(f"cases not in the corpus: {_listed(unknown)}")
    if twice:
        reasons.append(f"cases reported more than once: {_listed(twice)}")
    for setting in test_only_settings(environment):
        reasons.append(f"test-only setting in the run's environment: {setting}")
    return {
        "corpus_cases": sorted(corpus_cases),
        "shard": list(shard) if shard else None,
        "gating": not reasons,
        "not_gating": reasons,
    }


def assemble(
    *,
    stage: float,
    run_id: str,
    run_group: str,
    prov: dict[str, Any],
    corpus_cases: Sequence[str],
    cases: list[CaseResult],
    settings: dict[str, Any],
    timing: dict[str, Any],
    normalization: list[dict[str, Any]],
    created: str | None = None,
    shards: list[dict[str, Any]] | None = None,
) -> StageReport:
    """A whole report from its parts: every derived field computed from the cases."""
    policy = load_policy()[stage]
    cases = sorted(cases, key=lambda c: (VERDICT_ORDER[c.verdict], c.id))
    run_scope = scope(
        corpus_cases, cases, prov.get("environment") or {}, settings.get("shard") or None
    )
    run_totals = totals(cases)
    return {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "run_id": run_id,
        "run_group": run_group,
        "created": created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "provenance": prov,
        "scope": run_scope,
        "settings": settings,
        "policy": policy.to_dict(),
        "normalization": normalization,
        "totals": run_totals,
        "timing": timing,
        "shards": shards,
        "cases": cases,
        "gate": decide_gate(run_totals, run_scope, cases, prov["code"], policy),
    }


def case_timing(cases: list[CaseResult]) -> dict[str, Any]:
    """The timing figures summed over cases (everything but wall time and memory)."""
    return {
        "audit_s": {
            "stdout": round(sum(c.timing.audit_s.stdout for c in cases), 3),
            "queue": round(sum(c.timing.audit_s.queue for c in cases), 3),
            "noise": round(sum(c.timing.audit_s.noise for c in cases), 3),
        },
        "digest_s": round(sum(c.timing.digest_s for c in cases), 4),
        "compare_s": round(sum(c.timing.compare_s for c in cases), 4),
        "deepdiff_calls": {
            "all": sum(c.timing.deepdiff_calls for c in cases),
            "on_match": sum(c.timing.deepdiff_calls for c in cases if c.passed),
        },
    }


class staging:
    """A temporary sibling directory that replaces *final* on success and vanishes on failure.

    Re-running a writer over an existing *final* replaces it whole; no ``.tmp-`` directory is
    left behind, whatever fails.
    """

    def __init__(self, final: Path) -> None:
        self.final = final

    def __enter__(self) -> Path:
        self.final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{self.final.name}-", dir=self.final.parent))
        return self.tmp

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".old-{self.final.name}-", dir=self.final.parent))
            os.replace(self.final, old / "run")
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_files(directory: Path, report: StageReport) -> None:
    from harness.report.page import render_html
    from harness.report.summary import render_summary

    # PyYAML writes every character it cannot print (surrogates, controls) as an escape.
    data = report_to_dict(report)
    _write(directory / "report.yaml", yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    _write(directory / "summary.md", render_summary(report))
    _write(directory / "index.html", render_html(report, directory))


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The renderers escape what UTF-8 cannot carry; backslashreplace is the last resort that
    # keeps a report from being lost to one value a renderer missed.
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(text)


def terminal_lines(report: StageReport, path: Path) -> list[str]:
    t = report["totals"]
    gate = report["gate"]
    lines = [
        f"stage {report['stage']:g}: {t['cases']} cases — {t['match']} match, {t['ignored']} "
        f"ignored, {t['mismatch']} mismatch, {t['inconclusive']} inconclusive; Queue attested "
        f"{t['queue_attested']}/{t['cases']}",
        f"gate: {'PASSED' if gate['passed'] else 'FAILED'}",
    ]
    if report["settings"].get("through", "runner") != "runner":
        lines.insert(1, f"compared through: {report['settings']['through']} (the frames a "
                        "WebSocket client of the backend received)")  # fmt: skip
    lines += [f"  - {visible(r)}" for r in gate["reasons"]]
    lines.append(f"report: {path / 'index.html'}")
    return lines
