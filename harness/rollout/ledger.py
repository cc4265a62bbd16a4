"""The rollout ledger and the advance gate: ``harness gate`` and ``harness advance``.

The ledger (``reports/ROLLOUT.yaml``) records each advance: the stage, when, the stage before,
the validating run and the SHA-256 of its report.yaml, the code digest and the commit. The
rollout is at the stage of its last entry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import yaml

from harness.policy import load_policy
from harness.report.gate import ReportError, evaluate_run
from harness.report.provenance import code_version
from harness.report.runs import NoRunError, current_checkout_problems, latest_run
from harness.report.writer import load_report
from harness.yamlfile import yaml_problem
from veritas.parent.console import visible
from veritas.parent.mode import STAGES

LEDGER = "ROLLOUT.yaml"


def report_sha256(run: Path) -> str:
    return "sha256:" + hashlib.sha256((run / "report.yaml").read_bytes()).hexdigest()


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


def gate_reasons(
    report_dir: Path, to: float, now: dt.datetime | None = None, engine: str | None = None
) -> list[str]:
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
    reasons += current_checkout_problems(report, engine)
    if index and current == validating:
        days = (now - _entered(ledger[-1], report_dir / LEDGER)).total_seconds() / 86400
        if days < load_policy()[to].min_days_in_previous_stage:
            reasons.append(
                f"stage {validating:g} entered {days:.1f} days ago; the policy needs "
                f"{load_policy()[to].min_days_in_previous_stage} days before {to:g}"
            )
    return reasons


def gate(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to, engine=args.engine)
    print(f"advance to {args.to:g}: {'ALLOWED' if not reasons else 'REFUSED'}")
    for reason in reasons:
        print(f"  - {visible(reason)}")
    return 0 if not reasons else 1


def advance(args: argparse.Namespace) -> int:
    reasons = gate_reasons(args.report_dir, args.to, engine=args.engine)
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
            "engine": (load_report(run)["provenance"].get("engine") or {}).get("spec"),
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
