"""A stage validation in a subprocess (``pytest harness/`` with xdist), read back from its report.

Used by the commands that validate the corpus many times or measure a validation from the
outside: ``harness flakes`` and ``harness bench harness``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.report.check import load_report
from harness.report.result import StageReport

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SubRun:
    report: StageReport
    wall_s: float
    exit_code: int


def validate(stage: float, workers: str, corpus: list[Path], out: Path) -> SubRun:
    """Run one validation writing under *out*; RuntimeError if it wrote no report."""
    cmd = [sys.executable, "-m", "pytest", "harness/", "--stage", f"{stage:g}", "-n", workers]
    cmd += ["--report-dir", str(out), "-p", "no:cacheprovider", "-q", "--no-header"]
    for c in corpus:
        cmd += ["--corpus", str(c)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    reports = sorted(out.glob("stage-*/*/report.yaml"))
    if not reports:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(
            f"the validation wrote no report (pytest exit {proc.returncode}): {tail}"
        )
    return SubRun(load_report(reports[-1]), wall, proc.returncode)
