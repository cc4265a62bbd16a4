"""A stage validation in a subprocess (``pytest harness/`` with xdist), read back from its report.

Used by the commands that validate the corpus many times or measure a validation from the
outside: ``harness flakes`` and ``harness bench harness``.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.report.check import load_report
from harness.report.result import StageReport

ROOT = Path(__file__).resolve().parents[2]

#: A case's line in pytest's verbose output, with or without xdist:
#: ``[gw0] [  2%] PASSED harness::clean_blog`` or ``harness::clean_blog PASSED [  2%]``.
_CASE_LINE = re.compile(
    r"\b(PASSED|FAILED|ERROR|SKIPPED)\b.*?::(\S+)|::(\S+)\s+(PASSED|FAILED|ERROR|SKIPPED)\b"
)


@dataclass
class SubRun:
    report: StageReport
    wall_s: float
    exit_code: int


def case_of_line(line: str) -> tuple[str, str] | None:
    """(case id, pytest outcome) if *line* is a case's line of verbose pytest output."""
    found = _CASE_LINE.search(line)
    if found is None:
        return None
    if found.group(1):
        return found.group(2), found.group(1)
    return found.group(3), found.group(4)


def validate(
    stage: float,
    workers: str,
    corpus: list[Path],
    out: Path,
    on_case: Callable[[str, str], None] | None = None,
) -> SubRun:
    """Run one validation writing under *out*; RuntimeError if it wrote no report.

    *on_case*, if given, is called with each case's id and pytest outcome as the case ends
    (the validation then runs verbose, one line per case, which is read as it comes)."""
    cmd = [sys.executable, "-m", "pytest", "harness/", "--stage", f"{stage:g}", "-n", workers]
    cmd += ["--report-dir", str(out), "-p", "no:cacheprovider", "--no-header"]
    cmd += ["-v"] if on_case is not None else ["-q"]
    for c in corpus:
        cmd += ["--corpus", str(c)]
    started = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=5)
    seen: set[str] = set()  # the closing summary names failed cases a second time
    with subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip():
                tail.append(line.rstrip())
            case = case_of_line(line) if on_case is not None else None
            if case is not None and on_case is not None and case[0] not in seen:
                seen.add(case[0])
                on_case(*case)
        code = proc.wait()
    wall = time.perf_counter() - started
    reports = sorted(out.glob("stage-*/*/report.yaml"))
    if not reports:
        raise RuntimeError(f"the validation wrote no report (pytest exit {code}): {list(tail)}")
    return SubRun(load_report(reports[-1]), wall, code)
