"""``harness flakes --runs N``: validate the corpus N times, clean, and count every non-match.

A harness that reports a mismatch where the transports agree would train its users to ignore
it. This runs the stage validation ``runs`` times in a row (each a full ``pytest harness/``
with xdist, its own report directory) and tallies the verdicts per case. Success means no
mismatch in any run; inconclusive cases are listed with their reasons, because they hide
nothing but they do cost a rollout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness.corpus.cases import load_corpus
from harness.tools.subrun import validate
from veritas.parent.progress import Progress, Step


def _case_counter(step: Step, of: int) -> Callable[[str, str], None]:
    """An ``on_case`` callback that shows the run's progress on *step*."""
    ended = 0

    def on_case(case: str, outcome: str) -> None:
        nonlocal ended
        ended += 1
        step.update(f"{ended}/{of} cases, last {case} {outcome.lower()}")

    return on_case


def run_flakes(
    runs: int,
    stage: float,
    workers: str,
    corpus: list[Path],
    out_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    progress = progress or Progress("harness flakes", enabled=False)
    progress.total = runs
    of = len(load_corpus(corpus).cases)
    verdicts: Counter[str] = Counter()
    non_match: list[dict[str, Any]] = []
    walls = []
    progress.note(
        f"harness flakes: {runs} validation{'s' if runs > 1 else ''} of stage {stage:g}, "
        f"{of} cases each, -n {workers}"
    )
    for i in range(1, runs + 1):
        with progress.step(f"run {i}") as step:
            run = validate(
                stage, workers, corpus, out_dir / f"run-{i:02d}", on_case=_case_counter(step, of)
            )
            counts = Counter(c.verdict for c in run.report["cases"])
            step.result = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        cases = run.report["cases"]
        walls.append(round(run.wall_s, 1))
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
