"""``harness review | gate | advance | merge | nightly``: reading runs, the ledger and the gate.

Which run is the evidence for a stage: the latest *whole* run of it (every corpus case, no
test-only setting; see ``harness.report.scope``), where a merged run stands for the shards it
was merged from. A later partial run (``-k``, one shard) is reviewable but never replaces it.

The rollout ledger (``reports/ROLLOUT.yaml``) records each advance: the stage, when, the stage
before, the validating run and the SHA-256 of its report.yaml, the code digest and the commit.
The rollout is at the stage of its last entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from harness.gate import ReportError, evaluate_run
from harness.policy import load_policy
from harness.provenance import code_version
from harness.report import assemble, case_timing, load_report, staging
from harness.siteserver import yaml_problem
from veritas.mode import STAGES, parse_rollout
from veritas.report_text import visible

LEDGER = "ROLLOUT.yaml"
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
        if (load_report(run).get("scope") or {}).get("gating") is True:
            return run
    newest = _peek(candidates[-1]).get("scope") or {}
    why = "; ".join(newest.get("not_gating") or []) or "unreadable report"
    raise NoRunError(
        f"no whole run for {where} under {report_dir} (every corpus case, no test-only "
        f"setting); the newest, {candidates[-1].name}: {why}"
    )


def report_sha256(run: Path) -> str:
    return "sha256:" + hashlib.sha256((run / "report.yaml").read_bytes()).hexdigest()


def current_checkout_problems(report: dict[str, Any]) -> list[str]:
    """Why a report does not describe the current checkout (stale), if it doesn't.

    Stale means other code (source files or dependency versions) or another corpus: a commit
    that touched neither, such as one recording the ledger, leaves a report current.
    """
    from harness.corpus import load_corpus

    problems = []
    code = code_version()
    if report["provenance"]["code"]["digest"] != code["digest"]:
        problems.append(
            "stale: the code changed since the report was written (its code digest "
            f"{report['provenance']['code']['digest'][7:19]}, the checkout's {code['digest'][7:19]})"
        )
    dirs = [Path(d) for d in report["provenance"].get("corpus_dirs") or []]
    try:
        digest = load_corpus(dirs).digest if dirs else None
    except Exception as exc:
        problems.append(f"stale: the report's corpus cannot be loaded now: {exc}")
    else:
        if digest != report["provenance"]["corpus_digest"]:
            problems.append(
                "stale: the corpus changed since the report was written (digest differs)"
            )
    if code["dirty"]:
        problems.append("the working tree is dirty (outside reports/): commit before advancing")
    return problems


def review(args: argparse.Namespace) -> int:
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
        if case["verdict"] in ("match", "ignored"):
            continue
        print(
            f"  {case['verdict'].upper():<12} {visible(case['id'])}: "
            f"{visible('; '.join(case['reasons']))}"
        )
        if case.get("first_difference_text"):
            print("      " + visible(case["first_difference_text"].splitlines()[0]))
    # The gate as the current policy decides it, from the cases (never the recorded verdict).
    gate = evaluate_run(report, load_policy()[report["stage"]])
    problems = current_checkout_problems(report)
    reasons = list(gate["reasons"]) + [p for p in problems if p not in gate["reasons"]]
    passed = gate["passed"] and not problems
    print(f"gate: {'PASSED' if passed else 'FAILED'}")
    for reason in reasons:
        print(f"  - {visible(reason)}")
    print(f"report: {Path(run) / 'index.html'}")
    return 0 if passed else 1


def read_ledger(report_dir: Path) -> list[dict[str, Any]]:
    path = report_dir / LEDGER
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReportError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    entries = data.get("advances") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ReportError(f"{path}: expected a mapping with an 'advances' list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("stage") not in STAGES or "date" not in entry:
            raise ReportError(
                f"{path}: advances[{i}]: expected a mapping with 'stage' (one of "
                f"{', '.join(map(str, STAGES))}) and 'date'"
            )
    return entries


def _entered(entry: dict[str, Any], path: Path) -> dt.datetime:
    try:
        since = dt.datetime.fromisoformat(str(entry["date"]))
    except ValueError:
        raise ReportError(
            f"{path}: date {entry['date']!r} of stage {entry['stage']:g}; accepted: ISO 8601"
        ) from None
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def gate_reasons(report_dir: Path, to: float, now: dt.datetime | None = None) -> list[str]:
    """Every reason the rollout may not advance to stage *to* now.

    Entering the first stage needs a passing whole validation of it; entering any later stage
    needs one of the stage before, which the rollout must be in, for the policy's days.
    """
    now = now or dt.datetime.now(dt.UTC)
    index = STAGES.index(to)
    ledger = read_ledger(report_dir)
    current = float(ledger[-1]["stage"]) if ledger else None
    if current is not None and to == current:
        return [f"the rollout is already at stage {to:g} (entered {ledger[-1]['date']})"]
    if current is not None and to < current:
        return [f"stage {to:g} is below the current stage {current:g}: that is a step back"]
    validating = STAGES[index - 1] if index else to
    reasons = []
    if index and current != validating:
        at = f"at stage {current:g}" if current is not None else "not started"
        reasons.append(f"the rollout is {at}; stage {to:g} can only follow stage {validating:g}")
    try:
        run = latest_run(report_dir, validating, whole=True)
    except NoRunError as exc:
        return [*reasons, f"stage {validating:g} has not been validated: {exc}"]
    report = load_report(run)
    policy = load_policy()[validating]
    gate = evaluate_run(report, policy)
    if not gate["passed"]:
        reasons.append(
            f"stage {validating:g}'s latest whole run {report['run_id']} did not pass: "
            + "; ".join(gate["reasons"])
        )
    reasons += current_checkout_problems(report)
    if index and current == validating:
        days = (now - _entered(ledger[-1], report_dir / LEDGER)).total_seconds() / 86400
        if days < load_policy()[to].min_days_in_previous_stage:
            reasons.append(
                f"stage {validating:g} entered {days:.1f} days ago; the policy needs "
                f"{load_policy()[to].min_days_in_previous_stage} days before {to:g}"
            )
    return reasons


def gate(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to)
    print(f"advance to {args.to:g}: {'ALLOWED' if not reasons else 'REFUSED'}")
    for reason in reasons:
        print(f"  - {visible(reason)}")
    return 0 if not reasons else 1


def advance(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to)
    if reasons:
        print(f"advance to {args.to:g}: REFUSED")
        for reason in reasons:
            print(f"  - {visible(reason)}")
        return 1
    index = STAGES.index(args.to)
    run = latest_run(args.report_dir, STAGES[index - 1] if index else args.to, whole=True)
    entries = read_ledger(args.report_dir)
    code = code_version()
    entries.append(
        {
            "stage": args.to,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "previous_stage": entries[-1]["stage"] if entries else None,
            "validated_run": run.name,
            "report_sha256": report_sha256(run),
            "code_digest": code["digest"],
            "commit": code["commit"],
        }
    )
    path = args.report_dir / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Rollout ledger: one entry per stage advance (written by `harness advance`).\n"
        + yaml.safe_dump({"advances": entries}, sort_keys=False),
        encoding="utf-8",
    )
    print(f"advanced to {args.to:g} on run {run.name}; recorded in {path}")
    print(f"QUEUE_IPC_ROLLOUT={args.to:g}")
    return 0


def _one(reports: list[dict[str, Any]], what: str, get: Any) -> Any:
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
    from harness.report import write_files

    out = args.report_dir / f"stage-{stage:g}" / run_id
    with staging(out) as tmp:
        for run in runs:  # the artifacts of the shards' non-matching cases
            if (run / "cases").is_dir():
                shutil.copytree(run / "cases", tmp / "cases", dirs_exist_ok=True)
        write_files(tmp, merged)
    print(f"merged {len(reports)} shards ({len(cases)} cases) into {out}")
    return 0


def nightly(args: argparse.Namespace) -> int:
    stage = args.stage if args.stage is not None else parse_rollout()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "harness/",
        "--stage",
        f"{stage:g}",
        "-n",
        str(args.workers),
        "--report-dir",
        str(args.report_dir),
        "-p",
        "no:cacheprovider",
    ]
    root = Path(__file__).resolve().parent.parent
    return subprocess.call(cmd, cwd=root)


def dispatch(args: argparse.Namespace) -> int:
    handlers = {
        "review": review,
        "gate": gate,
        "advance": advance,
        "merge": merge,
        "nightly": nightly,
    }
    return handlers[args.command](args)
