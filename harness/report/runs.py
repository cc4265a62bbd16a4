"""Which run is the evidence for a stage, whether it is stale, and ``harness review``.

The evidence for a stage is its latest *whole* run (every corpus case, no test-only setting;
see ``harness.report.writer.scope``), where a merged run stands for the shards it was merged
from. A later partial run (``-k``, one shard) is reviewable but never replaces it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from harness.policy import load_policy
from harness.report.check import load_report
from harness.report.gate import ReportError, evaluate_run
from harness.report.provenance import code_version
from harness.report.result import StageReport
from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.console import visible
from veritas.parent.engine import resolve_engine
from veritas.parent.mode import STAGES, ConfigError

MERGED_SUFFIX = "-merged"


class NoRunError(ReportError):
    """No run that could serve as evidence (a refusal of the gate, not a broken report)."""


def runs_of(report_dir: Path, stage: float) -> list[Path]:
    stage_dir = report_dir / f"stage-{stage:g}"
    if not stage_dir.is_dir():
        return []
    return sorted(p for p in stage_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _peek(run: Path) -> dict[str, Any]:
    """A report's raw data, unchecked (for choosing a run; the chosen one is checked)."""
    try:
        data = yaml.safe_load((run / "report.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _candidates(report_dir: Path, stage: float | None) -> list[Path]:
    """Runs, newest last, without the shards that a merged run stands for."""
    stages = [stage] if stage is not None else list(STAGES)
    runs = [run for s in stages for run in runs_of(report_dir, s)]
    merged_away = {
        str(shard.get("run_id"))
        for run in runs
        if run.name.endswith(MERGED_SUFFIX)
        for shard in (_peek(run).get("shards") or [])
        if isinstance(shard, dict)
    }
    return sorted((r for r in runs if r.name not in merged_away), key=lambda p: p.name)


def latest_run(report_dir: Path, stage: float | None = None, *, whole: bool = False) -> Path:
    """The newest run (of *stage*, or of any stage); with *whole*, the newest whole run."""
    candidates = _candidates(report_dir, stage)
    where = f"stage {stage:g}" if stage is not None else "any stage"
    if not candidates:
        raise NoRunError(f"no stage run for {where} under {report_dir}")
    if not whole:
        return candidates[-1]
    for run in reversed(candidates):
        # A newer report that cannot be read is an error, never skipped for an older one.
        if load_report(run)["scope"].get("gating") is True:
            return run
    newest = _peek(candidates[-1]).get("scope") or {}
    why = "; ".join(newest.get("not_gating") or []) or "unreadable report"
    raise NoRunError(
        f"no whole run for {where} under {report_dir} (every corpus case, no test-only "
        f"setting); the newest, {candidates[-1].name}: {why}"
    )


def engine_problems(report: StageReport, engine: str | None = None) -> list[str]:
    """Why a report does not describe the current engine: *engine*, else ``VERITAS_ENGINE``,
    else the bundled one. A report without an engine record was made with the bundled engine."""
    recorded = report["provenance"].get("engine") or {"spec": BUNDLED_ENGINE}
    try:
        spec, now = resolve_engine(engine)
    except ConfigError as exc:
        return [f"stale: the current engine cannot be checked: {exc}"]
    if recorded["spec"] != spec:
        return [
            f"stale: the report was made with engine {recorded['spec']}, the current engine is "
            f"{spec} (named by --engine or {ENGINE_ENV})"
        ]
    changed = [
        f"{key} {recorded.get(key)} -> {now.get(key)}"
        for key in ("version", "source_digest")
        if recorded.get(key, now.get(key)) != now.get(key)
    ]
    if changed:
        return [f"stale: engine {spec} changed since the report was written ({'; '.join(changed)})"]
    return []


def _scope_problems(report: StageReport, corpus_ids: list[str]) -> list[str]:
    """Whether the report's list of the corpus's cases is the corpus's (its digest matched):
    a report that lists fewer cases than its corpus holds would otherwise seem whole."""
    listed = set(report["scope"]["corpus_cases"])
    if listed == set(corpus_ids):
        return []
    missing = sorted(set(corpus_ids) - listed)
    extra = sorted(listed - set(corpus_ids))
    return [
        f"scope.corpus_cases lists {len(listed)} cases, but its corpus (digest unchanged) holds "
        f"{len(corpus_ids)}: missing {missing[:5]}{' …' if len(missing) > 5 else ''}"
        + (f", unknown {extra[:5]}" if extra else "")
    ]


def current_checkout_problems(report: StageReport, engine: str | None = None) -> list[str]:
    """Why a report does not describe the current checkout (stale), if it doesn't.

    Stale means other code (source files or dependency versions), another engine or another
    corpus: a commit that touched none of them, such as one recording the ledger, leaves a
    report current.
    """
    from harness.corpus.cases import load_corpus

    problems = []
    code = code_version()
    if report["provenance"]["code"]["digest"] != code["digest"]:
        problems.append(
            "stale: the code changed since the report was written (its code digest "
            f"{report['provenance']['code']['digest'][7:19]}, the checkout's {code['digest'][7:19]})"
        )
    problems += engine_problems(report, engine)
    dirs = [Path(d) for d in report["provenance"].get("corpus_dirs") or []]
    try:
        corpus = load_corpus(dirs) if dirs else None
    except Exception as exc:
        problems.append(f"stale: the report's corpus cannot be loaded now: {exc}")
    else:
        digest = corpus.digest if corpus is not None else None
        if digest != report["provenance"]["corpus_digest"]:
            problems.append(
                "stale: the corpus changed since the report was written (digest differs)"
            )
        elif corpus is not None:
            problems += _scope_problems(report, [c.id for c in corpus.cases])
    if code["dirty"]:
        problems.append("the working tree is dirty (outside reports/): commit before advancing")
    return problems


def gate_now(report: StageReport, engine: str | None = None) -> dict[str, Any]:
    """The gate as the current policy decides it from the cases (never the recorded verdict),
    refused too when the report does not describe the current checkout."""
    gate = evaluate_run(report, load_policy()[report["stage"]])
    problems = current_checkout_problems(report, engine)
    reasons = list(gate["reasons"]) + [p for p in problems if p not in gate["reasons"]]
    return {"passed": gate["passed"] and not problems, "reasons": reasons}


def review_run(args: argparse.Namespace) -> tuple[Path, StageReport, dict[str, Any]]:
    """``harness review``: prints the run, its failures and its gate checked now; returns the
    run, its report and that gate."""
    run = args.run or latest_run(args.report_dir)
    report = load_report(run)
    t = report["totals"]
    print(f"stage {report['stage']:g} run {report['run_id']} ({run})")
    print(
        f"  {t['cases']} cases: {t['match']} match, {t['ignored']} ignored, {t['mismatch']} mismatch, "
        f"{t['inconclusive']} inconclusive; Queue attested {t['queue_attested']}/{t['cases']}; "
        f"audits stdout {t['audits_per_mode']['stdout']} / queue {t['audits_per_mode']['queue']}"
    )
    for case in report["cases"]:  # the report lists failures first
        if case.passed:
            continue
        print(
            f"  {case.verdict.upper():<12} {visible(case.id)}: {visible('; '.join(case.reasons))}"
        )
        if case.first_difference_text:
            print("      " + visible(case.first_difference_text.splitlines()[0]))
    gate = gate_now(report, args.engine)
    print(f"gate: {'PASSED' if gate['passed'] else 'FAILED'}")
    for reason in gate["reasons"]:
        print(f"  - {visible(reason)}")
    print(f"report: {Path(run) / 'index.html'}")
    return Path(run), report, gate
