"""``harness bench harness``: what a stage validation costs, and how it grows with the corpus.

Runs ``pytest harness/`` with xdist over the bundled corpus and reads back its report: wall
time, audit time per mode, and the harness's own time (observing, normalizing, digesting and
comparing in the workers, writing the report in the controller) as a share of the wall time.
The workers' own time is summed across workers, so with ``-n 2`` the share is an upper bound.
With ``--scale 50,200`` it also generates corpora of those sizes (``harness.gencorpus``) and
validates each, to show the wall time per case staying flat as the corpus grows, and the
workers' peak RSS.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.tools.gencorpus import generate
from harness.tools.subrun import validate


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_corpus(corpus: list[Path], workers: str, report_dir: Path) -> dict[str, Any]:
    """One stage validation of *corpus*; the figures of its report."""
    run = validate(0.1, workers, corpus, report_dir)
    report, wall = run.report, run.wall_s
    timing = report["timing"]
    own = {
        "observe_s": timing["digest_s"],
        "judge_s": timing["compare_s"],
        "report_s": timing.get("report_s", 0.0),
    }
    own_total = sum(own.values())
    verdicts: dict[str, int] = {}
    for case in report["cases"]:
        verdicts[case.verdict] = verdicts.get(case.verdict, 0) + 1
    return {
        "cases": len(report["cases"]),
        "verdicts": verdicts,
        "pytest_exit": run.exit_code,
        "wall_s": round(wall, 2),
        "wall_per_case_s": round(wall / max(1, len(report["cases"])), 3),
        "audit_s": timing["audit_s"],
        "harness_s": {**own, "total": round(own_total, 4)},
        "harness_share": round(own_total / wall, 5) if wall else 0.0,
        "deepdiff_calls": timing["deepdiff_calls"],
        "peak_rss_mb": timing["peak_rss_mb"],
    }


def run_harness_bench(
    corpus: list[Path], workers: str, scale: list[int], work_dir: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="veritas-bench-") as tmp:
        base = work_dir or Path(tmp)
        _say(f"validating the corpus {', '.join(map(str, corpus))} with -n {workers} …")
        result: dict[str, Any] = {
            "workers": workers,
            "corpus": run_corpus(corpus, workers, base / "corpus-run"),
        }
        _say(f"  done in {result['corpus']['wall_s']:.0f} s")
        runs = {}
        for n in scale:
            generated = generate(base / f"generated-{n}", n)
            _say(f"validating {n} generated cases …")
            runs[n] = run_corpus([generated], workers, base / f"generated-{n}-run")
            _say(f"  done in {runs[n]['wall_s']:.0f} s")
        if runs:
            result["scaling"] = {"runs": {str(n): r for n, r in runs.items()}}
            sizes = sorted(runs)
            if len(sizes) >= 2:
                small, big = sizes[0], sizes[-1]
                per_small = runs[small]["wall_s"] / small
                per_big = runs[big]["wall_s"] / big
                result["scaling"]["linearity"] = {
                    "sizes": [small, big],
                    "wall_ratio": round(runs[big]["wall_s"] / runs[small]["wall_s"], 3),
                    "linear_ratio": round(big / small, 3),
                    "per_case_ratio": round(per_big / per_small, 3),
                }
    return result


def _row(name: str, r: dict[str, Any]) -> str:
    audit = r["audit_s"]
    rss = max(r["peak_rss_mb"]["workers"] or [0.0])
    return (
        f"{name:<16}{r['cases']:>6}{r['wall_s']:>9.1f}{r['wall_per_case_s']:>9.2f}"
        f"{audit['stdout']:>10.1f}{audit['queue']:>9.1f}{audit['noise']:>9.1f}"
        f"{r['harness_s']['total']:>10.3f}{r['harness_share'] * 100:>8.2f}%"
        f"{r['deepdiff_calls']['on_match']:>8}{rss:>9.0f}"
    )


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Harness benchmark, -n {result['workers']} (audit and harness times summed over workers)",
        f"{'run':<16}{'cases':>6}{'wall s':>9}{'s/case':>9}{'stdout s':>10}{'queue s':>9}"
        f"{'noise s':>9}{'harness s':>10}{'share':>9}{'dd@ok':>8}{'RSS MB':>9}",
        _row("corpus", result["corpus"]),
    ]
    scaling = result.get("scaling")
    if scaling:
        for n, r in scaling["runs"].items():
            lines.append(_row(f"generated {n}", r))
        lin = scaling.get("linearity")
        if lin:
            lines.append(
                f"scaling {lin['sizes'][0]} → {lin['sizes'][1]} cases: wall ×{lin['wall_ratio']} "
                f"(linear ×{lin['linear_ratio']}); time per case ×{lin['per_case_ratio']}"
            )
    lines.append("dd@ok: deepdiff calls on matching cases; RSS: peak of the busiest xdist worker")
    return "\n".join(lines)
