"""Writing a stage report: ``reports/stage-<S>/<run-id>/`` with report.yaml and summary.md.

The controller writes it once, at the end of the run, into a temporary directory that is
renamed into place, so a report directory is either complete or absent.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from harness.gate import evaluate_run
from harness.normalize import rules_report
from harness.policy import load_policy
from harness.provenance import provenance
from harness.state import HarnessState, peak_rss_mb

SCHEMA_VERSION = 1
VERDICT_ORDER = {"mismatch": 0, "inconclusive": 1, "ignored": 2, "match": 3}


def totals(cases: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {v: 0 for v in VERDICT_ORDER}
    for case in cases:
        counts[case["verdict"]] += 1
    audits = {
        "stdout": sum(1 + len(c["runs"]["noise"]) for c in cases),
        "queue": len(cases),
    }
    attested = sum(1 for c in cases if c["runs"]["queue"]["attested_transport"] == "queue")
    return {"cases": len(cases), **counts, "audits_per_mode": audits, "queue_attested": attested}


def _norm_counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for case in cases:
        for name, n in case["normalization"].items():
            merged[name] = merged.get(name, 0) + n
    return merged


def build_report(state: HarnessState, workers: int) -> dict[str, Any]:
    opts = state.options
    cases = sorted(state.results, key=lambda c: (VERDICT_ORDER[c["verdict"]], c["id"]))
    policy = load_policy()[opts.stage]
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "stage": opts.stage,
        "run_id": state.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "provenance": provenance(state.corpus_digest, [str(d) for d in opts.corpus], workers),
        "settings": {
            "noise_runs": opts.noise_runs,
            "audit_timeout": opts.audit_timeout,
            "shard": list(opts.shard) if opts.shard else None,
        },
        "policy": policy.to_dict(),
        "normalization": rules_report(_norm_counts(cases)),
        "totals": totals(cases),
        "timing": {
            "wall_s": round(time.time() - state.started, 3),
            "audit_s": {
                m: round(sum(c["timing"]["audit_s"][m] for c in cases), 3)
                for m in ("stdout", "queue", "noise")
            },
            "digest_s": round(sum(c["timing"]["digest_s"] for c in cases), 4),
            "compare_s": round(sum(c["timing"]["compare_s"] for c in cases), 4),
            "deepdiff_calls": {
                "all": sum(c["timing"].get("deepdiff_calls", 0) for c in cases),
                "on_match": sum(
                    c["timing"].get("deepdiff_calls", 0)
                    for c in cases
                    if c["verdict"] in ("match", "ignored")
                ),
            },
            "peak_rss_mb": {
                "workers": state.worker_peak_rss_mb or [peak_rss_mb()],
                "controller": peak_rss_mb(),
            },
        },
        "cases": cases,
    }
    report["gate"] = evaluate_run(report, policy)
    return report


def write_stage_report(state: HarnessState) -> Path:
    started = time.perf_counter()
    workers = max(1, state.workers)
    report = build_report(state, workers)
    stage_dir = state.options.report_dir / f"stage-{state.options.stage:g}"
    stage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = stage_dir / f".tmp-{state.run_id}"
    tmp.mkdir(mode=0o700)
    if state.work_dir.is_dir():
        shutil.move(str(state.work_dir), tmp / "cases")
    report["timing"]["report_s"] = round(time.perf_counter() - started, 4)
    write_files(tmp, report)
    final = stage_dir / state.run_id
    os.replace(tmp, final)
    return final


def write_files(directory: Path, report: dict[str, Any]) -> None:
    from harness.html import render_html
    from harness.summary import render_summary

    _write(directory / "report.yaml", yaml.safe_dump(report, sort_keys=False, allow_unicode=True))
    _write(directory / "summary.md", render_summary(report))
    _write(directory / "index.html", render_html(report, directory))


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def load_report(path: Path) -> dict[str, Any]:
    """Read a report.yaml (or a run directory); ReportError says what is wrong."""
    from harness.gate import ReportError

    file = path / "report.yaml" if path.is_dir() else path
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        from harness.siteserver import yaml_problem

        raise ReportError(f"{file}: cannot read report: {yaml_problem(exc)}") from None
    required = ("schema_version", "stage", "run_id", "provenance", "cases", "totals", "gate")
    if not isinstance(data, dict) or any(k not in data for k in required):
        raise ReportError(f"{file}: not a stage report (needs keys {', '.join(required)})")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ReportError(
            f"{file}: schema_version {data['schema_version']!r}; accepted: {SCHEMA_VERSION}"
        )
    return data


def terminal_lines(state: HarnessState) -> list[str]:
    assert state.report_path is not None
    report = load_report(state.report_path)
    t = report["totals"]
    gate = report["gate"]
    lines = [
        f"stage {report['stage']:g}: {t['cases']} cases — {t['match']} match, {t['ignored']} "
        f"ignored, {t['mismatch']} mismatch, {t['inconclusive']} inconclusive; Queue attested "
        f"{t['queue_attested']}/{t['cases']}",
        f"gate: {'PASSED' if gate['passed'] else 'FAILED'}",
    ]
    lines += [f"  - {r}" for r in gate["reasons"]]
    lines.append(f"report: {state.report_path / 'index.html'}")
    return lines
