"""``harness merge``: the shards of one run into one report.

Only the shards of one run group (same stage, code, corpus and settings), every shard exactly
once. The merged run carries its own argv, wall time and shard list, and replaces itself
whole when the merge runs again.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report.check import load_report
from harness.report.gate import ReportError
from harness.report.result import StageReport
from harness.report.runs import MERGED_SUFFIX
from harness.report.writer import assemble, case_timing, staging


def _one(reports: list[StageReport], what: str, get: Callable[[StageReport], Any]) -> Any:
    values = {str(get(r)) for r in reports}
    if len(values) != 1:
        raise ReportError(
            f"cannot merge: the runs differ in {what} ("
            + "; ".join(f"{r['run_id']}: {str(get(r))[:40]}" for r in reports)
            + ")"
        )
    return get(reports[0])


def merge(args: argparse.Namespace) -> int:
    """Merge the shards of one run: same group, stage, code and corpus; each shard once."""
    started = time.perf_counter()
    runs = [Path(r) for r in args.runs]
    reports = [load_report(run) for run in runs]
    stage = _one(reports, "stage", lambda r: r["stage"])
    group = _one(reports, "run group (pytest --run-group)", lambda r: r["run_group"])
    _one(reports, "code digest", lambda r: r["provenance"]["code"]["digest"])
    _one(reports, "corpus", lambda r: r["provenance"]["corpus_digest"])
    corpus_cases = _one(reports, "corpus cases", lambda r: r["scope"]["corpus_cases"])
    _one(reports, "settings", lambda r: {k: v for k, v in r["settings"].items() if k != "shard"})
    shards = [r["scope"]["shard"] for r in reports]
    if any(s is None for s in shards):
        unsharded = [r["run_id"] for r in reports if r["scope"]["shard"] is None]
        raise ReportError(f"cannot merge: not shard runs: {', '.join(unsharded)}")
    total = _one(reports, "shard count", lambda r: r["scope"]["shard"][1])
    indexes = sorted(s[0] for s in shards)
    if indexes != list(range(1, total + 1)):
        seen = ", ".join(f"{k}/{total}" for k in indexes)
        raise ReportError(f"cannot merge: need shards 1 to {total} once each, got {seen}")
    environment: dict[str, str] = {}
    for r in reports:
        for name, value in r["provenance"]["environment"].items():
            if environment.setdefault(name, value) != value:
                raise ReportError(f"cannot merge: the shards ran with different {name}")
    cases = [c for r in reports for c in r["cases"]]
    run_id = max(r["run_id"] for r in reports) + MERGED_SUFFIX
    base = reports[0]
    prov = {
        **base["provenance"],
        "workers": sum(r["provenance"]["workers"] for r in reports),
        "argv": ["merge", *map(str, runs)],
        "environment": environment,
    }
    merged = assemble(
        stage=stage,
        run_id=run_id,
        run_group=group,
        prov=prov,
        corpus_cases=corpus_cases,
        cases=cases,
        settings={**base["settings"], "shard": None},
        timing={
            # Shards usually run side by side: the run took as long as its longest shard.
            "wall_s": max(r["timing"]["wall_s"] for r in reports),
            **case_timing(cases),
            "merge_s": round(time.perf_counter() - started, 3),
        },
        normalization=base["normalization"],
        shards=[
            {
                "run_id": r["run_id"],
                "shard": r["scope"]["shard"],
                "wall_s": r["timing"]["wall_s"],
                "argv": r["provenance"]["argv"],
            }
            for r in sorted(reports, key=lambda r: r["scope"]["shard"][0])
        ],
    )
    from harness.report.writer import write_files

    out = args.report_dir / f"stage-{stage:g}" / run_id
    with staging(out) as tmp:
        for run in runs:  # the artifacts of the shards' non-matching cases
            if (run / "cases").is_dir():
                shutil.copytree(run / "cases", tmp / "cases", dirs_exist_ok=True)
        write_files(tmp, merged)
    print(f"merged {len(reports)} shards ({len(cases)} cases) into {out}")
    return 0
