"""``harness flakes --runs N``: validate the corpus N times, clean, and count every non-match.

A harness that reports a mismatch where the transports agree would train its users to ignore
it. This runs the stage validation ``runs`` times in a row (each a full ``pytest harness/``
with xdist, its own report directory) and tallies the verdicts per case. Success means no
mismatch in any run; inconclusive cases are listed with their reasons, because they hide
nothing but they do cost a rollout.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from harness.tools.subrun import validate


def run_flakes(
    runs: int, stage: float, workers: str, corpus: list[Path], out_dir: Path
) -> dict[str, Any]:
    verdicts: Counter[str] = Counter()
    non_match: list[dict[str, Any]] = []
    walls = []
    for i in range(1, runs + 1):
        run = validate(stage, workers, corpus, out_dir / f"run-{i:02d}")
        cases = run.report["cases"]
        walls.append(round(run.wall_s, 1))
        counts = Counter(c.verdict for c in cases)
        verdicts.update(counts)
        for case in cases:
            if not case.passed:
                non_match.append(
                    {
                        "run": i,
                        "case": case.id,
                        "verdict": case.verdict,
                        "reasons": case.reasons[:2],
                    }
                )
        print(
            f"run {i}/{runs}: {run.wall_s:.0f} s, "
            + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())),
            file=sys.stderr,
            flush=True,
        )
    result = {
        "runs": runs,
        "stage": stage,
        "audits_per_run": len(cases),
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
