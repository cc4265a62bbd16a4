"""The controller's end of a run: the stage report built from the plugin's state and written."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness.plugin.state import HarnessState, peak_rss_mb
from harness.report.provenance import provenance
from harness.report.result import CaseResult, StageReport
from harness.report.writer import assemble, case_timing, staging, write_files
from veritas.diff.normalize import rules_report


def _norm_counts(cases: list[CaseResult]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for case in cases:
        for name, n in case.normalization.items():
            merged[name] = merged.get(name, 0) + n
    return merged


def run_group_of(state: HarnessState) -> str:
    """Shards of one run share a group: the one given, else one derived from what must agree."""
    opts = state.options
    if opts.run_group:
        return opts.run_group
    if opts.shard is None:
        return state.run_id
    from harness.report.provenance import code_digest

    return (
        f"stage-{opts.stage:g}-of-{opts.shard[1]}-code-{code_digest()[7:19]}-"
        f"corpus-{(state.corpus_digest or '?')[:12]}"
    )


def build_report(state: HarnessState, workers: int) -> StageReport:
    opts = state.options
    corpus = state.load_corpus()
    cases = list(state.results)
    return assemble(
        stage=opts.stage,
        run_id=state.run_id,
        run_group=run_group_of(state),
        prov=provenance(
            state.corpus_digest, [str(d) for d in opts.corpus], workers, opts.engine_info
        ),
        corpus_cases=[c.id for c in corpus.cases],
        cases=cases,
        settings={
            "noise_runs": opts.noise_runs,
            "eager_noise": opts.eager_noise,
            "audit_timeout": opts.audit_timeout,
            "shard": list(opts.shard) if opts.shard else None,
            # the boundary whose events were compared: runner (AuditRunner's delivery) or ws
            # (the frames a WebSocket client of the backend received)
            "through": opts.through,
        },
        timing={
            "wall_s": round(time.time() - state.started, 3),
            **case_timing(cases),
            "peak_rss_mb": {
                "workers": state.worker_peak_rss_mb or [peak_rss_mb()],
                "controller": peak_rss_mb(),
            },
        },
        normalization=rules_report(_norm_counts(cases)),
    )


def write_stage_report(state: HarnessState) -> tuple[Path, StageReport]:
    started = time.perf_counter()
    workers = max(1, state.workers)
    report = build_report(state, workers)
    stage_dir = state.options.report_dir / f"stage-{state.options.stage:g}"
    stage_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = stage_dir / state.run_id
    with staging(final) as tmp:
        if state.work_dir.is_dir():
            shutil.move(str(state.work_dir), tmp / "cases")
        report["timing"]["report_s"] = round(time.perf_counter() - started, 4)
        write_files(tmp, report)
    return final, report
