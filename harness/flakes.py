"""``harness flakes --runs N``: validate the corpus N times, clean, and count every non-match.

A harness that reports a mismatch where the transports agree would train its users to ignore
it. This runs the stage validation ``runs`` times in a row (each a full ``pytest harness/``
with xdist, its own report directory) and tallies the verdicts per case. Success means no
mismatch in any run; inconclusive cases are listed with their reasons, because they hide
nothing but they do cost a rollout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from harness.report import load_report

ROOT = Path(__file__).resolve().parent.parent


def _one_run(stage: float, workers: str, corpus: list[Path], out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pytest", "harness/", "--stage", f"{stage:g}", "-n", workers]
    cmd += ["--report-dir", str(out), "-p", "no:cacheprovider", "-q", "--no-header"]
    for c in corpus:
        cmd += ["--corpus", str(c)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    reports = sorted(out.glob("stage-*/*/report.yaml"))
    if not reports:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"the run wrote no report (pytest exit {proc.returncode}): {tail}")
    report = load_report(reports[-1].parent)
    return {"exit": proc.returncode, "wall_s": round(wall, 1), "cases": report["cases"]}


def run_flakes(
    runs: int, stage: float, workers: str, corpus: list[Path], out_dir: Path
) -> dict[str, Any]:
    verdicts: Counter[str] = Counter()
    non_match: list[dict[str, Any]] = []
    walls = []
    for i in range(1, runs + 1):
        run = _one_run(stage, workers, corpus, out_dir / f"run-{i:02d}")
        walls.append(run["wall_s"])
        counts = Counter(c["verdict"] for c in run["cases"])
        verdicts.update(counts)
        for case in run["cases"]:
            if case["verdict"] not in ("match", "ignored"):
                non_match.append(
                    {
                        "run": i,
                        "case": case["id"],
                        "verdict": case["verdict"],
                        "reasons": case["reasons"][:2],
                    }
                )
        print(
            f"run {i}/{runs}: {run['wall_s']:.0f} s, "
            + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())),
            file=sys.stderr,
            flush=True,
        )
    result = {
        "runs": runs,
        "stage": stage,
        "audits_per_run": len(run["cases"]),
        "verdicts": dict(sorted(verdicts.items())),
        "mismatches": verdicts.get("mismatch", 0),
        "inconclusive": verdicts.get("inconclusive", 0),
        "non_match": non_match,
        "wall_s": {"total": round(sum(walls), 1), "per_run": walls},
    }
    (out_dir / "flakes.yaml").write_text(yaml.safe_dump(result, sort_keys=False))
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['runs']} clean runs of stage {result['stage']:g}, "
        f"{result['audits_per_run']} cases each, {result['wall_s']['total']:.0f} s in all",
        "verdicts: " + ", ".join(f"{n} {v}" for v, n in result["verdicts"].items()),
        f"mismatches: {result['mismatches']}, inconclusive: {result['inconclusive']}",
    ]
    for row in result["non_match"]:
        lines.append(f"  run {row['run']}: {row['case']} {row['verdict']}: {row['reasons']}")
    return "\n".join(lines)
