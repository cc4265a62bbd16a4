"""``harness review | gate | advance | merge | nightly``: reading runs, the ledger and the gate."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.gate import ReportError, evaluate_run
from harness.policy import load_policy
from harness.provenance import code_version
from harness.report import load_report, totals, write_files
from harness.siteserver import yaml_problem
from veritas.mode import STAGES, parse_rollout

LEDGER = "ROLLOUT.yaml"


def runs_of(report_dir: Path, stage: float) -> list[Path]:
    stage_dir = report_dir / f"stage-{stage:g}"
    if not stage_dir.is_dir():
        return []
    return sorted(p for p in stage_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def latest_run(report_dir: Path, stage: float | None = None) -> Path:
    stages = [stage] if stage is not None else list(STAGES)
    candidates = [run for s in stages for run in runs_of(report_dir, s)]
    if not candidates:
        where = f"stage {stage:g}" if stage is not None else "any stage"
        raise ReportError(f"no stage run for {where} under {report_dir}")
    return max(candidates, key=lambda p: p.name)


def current_checkout_problems(report: dict[str, Any]) -> list[str]:
    """Why a report does not describe the current checkout (stale), if it doesn't."""
    from harness.corpus import load_corpus

    problems = []
    code = code_version()
    commit = report["provenance"]["code"].get("commit")
    if commit != code["commit"]:
        problems.append(
            f"stale: report is of commit {str(commit)[:12]}, checkout is {str(code['commit'])[:12]}"
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
        problems.append("the working tree is dirty: commit before advancing")
    return problems


def review(args: argparse.Namespace) -> int:
    run = args.run or latest_run(args.report_dir)
    report = load_report(run)
    t, gate = report["totals"], report["gate"]
    print(f"stage {report['stage']:g} run {report['run_id']} ({run})")
    print(
        f"  {t['cases']} cases: {t['match']} match, {t['ignored']} ignored, {t['mismatch']} mismatch, "
        f"{t['inconclusive']} inconclusive; Queue attested {t['queue_attested']}/{t['cases']}; "
        f"audits stdout {t['audits_per_mode']['stdout']} / queue {t['audits_per_mode']['queue']}"
    )
    for case in report["cases"]:  # the report lists failures first
        if case["verdict"] in ("match", "ignored"):
            continue
        print(f"  {case['verdict'].upper():<12} {case['id']}: {'; '.join(case['reasons'])}")
        if case.get("first_difference_text"):
            print("      " + case["first_difference_text"].splitlines()[0])
    problems = current_checkout_problems(report)
    reasons = list(gate["reasons"]) + [p for p in problems if p not in gate["reasons"]]
    passed = gate["passed"] and not problems
    print(f"gate: {'PASSED' if passed else 'FAILED'}")
    for reason in reasons:
        print(f"  - {reason}")
    print(f"report: {Path(run) / 'index.html'}")
    return 0 if passed else 1


def _ledger(report_dir: Path) -> list[dict[str, Any]]:
    path = report_dir / LEDGER
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReportError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    entries = data.get("advances") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ReportError(f"{path}: expected a mapping with an 'advances' list")
    return entries


def gate_reasons(report_dir: Path, to: float, now: dt.datetime | None = None) -> list[str]:
    """Every reason the rollout may not advance to stage *to* now."""
    now = now or dt.datetime.now(dt.UTC)
    index = STAGES.index(to)
    if index == 0:
        return []  # the first stage needs no earlier validation
    previous = STAGES[index - 1]
    policy = load_policy()[to]
    reasons = []
    try:
        run = latest_run(report_dir, previous)
    except ReportError:
        return [
            f"stage {previous:g} has not been validated (no run under {report_dir}/stage-{previous:g})"
        ]
    report = load_report(run)
    if not report["gate"]["passed"]:
        reasons.append(
            f"stage {previous:g}'s latest run {report['run_id']} did not pass: "
            + "; ".join(report["gate"]["reasons"])
        )
    reasons += current_checkout_problems(report)
    entered = [e for e in _ledger(report_dir) if float(e.get("stage", -1)) == previous]
    if not entered:
        reasons.append(f"stage {previous:g} was never entered (no advance to it in {LEDGER})")
    else:
        since = dt.datetime.fromisoformat(str(entered[-1]["date"]))
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        days = (now - since).total_seconds() / 86400
        if days < policy.min_days_in_previous_stage:
            reasons.append(
                f"stage {previous:g} entered {days:.1f} days ago; the policy needs "
                f"{policy.min_days_in_previous_stage} days before {to:g}"
            )
    return reasons


def gate(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to)
    print(f"advance to {args.to:g}: {'ALLOWED' if not reasons else 'REFUSED'}")
    for reason in reasons:
        print(f"  - {reason}")
    return 0 if not reasons else 1


def advance(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to)
    if reasons:
        print(f"advance to {args.to:g}: REFUSED")
        for reason in reasons:
            print(f"  - {reason}")
        return 1
    index = STAGES.index(args.to)
    run = latest_run(args.report_dir, STAGES[index - 1]).name if index else None
    entries = _ledger(args.report_dir)
    entries.append(
        {
            "stage": args.to,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "validated_run": run,
            "commit": code_version()["commit"],
        }
    )
    path = args.report_dir / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Rollout ledger: one entry per stage advance (written by `harness advance`).\n"
        + yaml.safe_dump({"advances": entries}, sort_keys=False)
    )
    print(f"advanced to {args.to:g}; recorded in {path}")
    print(f"QUEUE_IPC_ROLLOUT={args.to:g}")
    return 0


def merge(args: argparse.Namespace) -> int:
    reports = [load_report(run) for run in args.runs]
    keys = {
        (r["stage"], r["provenance"]["code"]["commit"], r["provenance"]["corpus_digest"])
        for r in reports
    }
    if len(keys) != 1:
        raise ReportError(
            "cannot merge runs of different stages, commits or corpora: "
            + "; ".join(
                f"stage {s:g} commit {str(c)[:12]} corpus {str(d)[:12]}"
                for s, c, d in sorted(keys, key=str)
            )
        )
    ids = [c["id"] for r in reports for c in r["cases"]]
    if len(ids) != len(set(ids)):
        raise ReportError("the runs share cases: merge shards of one run, not repeated runs")
    base = reports[0]
    cases = sorted((c for r in reports for c in r["cases"]), key=lambda c: c["id"])
    merged = {
        **base,
        "run_id": base["run_id"] + "-merged",
        "cases": cases,
        "merged_from": [r["run_id"] for r in reports],
    }
    merged["totals"] = totals(cases)
    merged["provenance"] = {
        **base["provenance"],
        "workers": sum(r["provenance"]["workers"] for r in reports),
    }
    merged["timing"] = {k: base["timing"][k] for k in base["timing"]}
    merged["gate"] = evaluate_run(merged, load_policy()[base["stage"]])
    out = args.report_dir / f"stage-{base['stage']:g}" / merged["run_id"]
    tmp = out.with_name(f".tmp-{merged['run_id']}")
    tmp.mkdir(parents=True, mode=0o700)
    write_files(tmp, merged)
    os.replace(tmp, out)
    print(f"merged {len(reports)} runs ({len(cases)} cases) into {out}")
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
