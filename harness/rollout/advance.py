"""The advance gate and the decisions it records: ``harness gate``, ``advance``, ``halt``,
``resume``, ``rollback``.

An advance to stage S is refused, each reason said, when: the ledger's chain is broken (exit
2); the rollout is halted; S is not the stage after the current one; the validating stage's
latest whole run did not pass, is stale, or is older than the policy's freshness limit; the
approver (``--by``) is the run's author and the policy forbids self-approval (or the run
records no author); the current stage was entered fewer than the policy's days ago; or the
production cohorts of the current stage since it was entered are not PASS. Entering the first
stage needs no cohorts: before it the rollout sends no audit to the Queue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.policy import load_policy, load_rollout_policy
from harness.report.check import load_report
from harness.report.gate import evaluate_run
from harness.report.provenance import code_version
from harness.report.runs import NoRunError, current_checkout_problems, latest_run
from harness.rollout import ledger
from harness.rollout.cohorts import CohortError, CohortReport, table
from harness.rollout.sources import observe
from veritas.parent.console import visible
from veritas.parent.mode import STAGES

#: The production cohorts of *stage* since *since* (the CLI's --metrics or --prometheus).
Cohorts = Callable[[float, dt.datetime], CohortReport]


def report_sha256(run: Path) -> str:
    return "sha256:" + hashlib.sha256((run / "report.yaml").read_bytes()).hexdigest()


@dataclass
class Decision:
    to: float
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run: Path | None = None
    author: str | None = None
    cohorts: CohortReport | None = None


def decide(
    report_dir: Path,
    to: float,
    *,
    cohorts: Cohorts,
    by: str | None = None,
    now: dt.datetime | None = None,
    engine: str | None = None,
) -> Decision:
    """Every reason the rollout may not advance to stage *to* now (none: it may)."""
    now = now or dt.datetime.now(dt.UTC)
    d = Decision(to)
    state = ledger.rollout_state(report_dir)  # a broken chain raises: nothing is decided on it
    rules = load_rollout_policy()
    current = state.stage
    if state.halt is not None:
        h = state.halt
        d.reasons.append(
            f"the rollout is halted since {h['at']} by {h['by']}: {h['reason']} "
            "(`harness resume --by NAME` lifts it)"
        )
    if current is not None and to == current:
        d.reasons.append(f"the rollout is already at stage {to:g} (entered {state.since})")
        return d
    if current is not None and to < current:
        d.reasons.append(
            f"stage {to:g} is below the current stage {current:g}: that is a step back "
            f"(`harness rollback --to {to:g}`)"
        )
        return d
    index = STAGES.index(to)
    validating = STAGES[index - 1] if index else to
    if index and current != validating:
        at = f"at stage {current:g}" if current is not None else "not started"
        d.reasons.append(f"the rollout is {at}; stage {to:g} can only follow stage {validating:g}")
    try:
        run = latest_run(report_dir, validating, whole=True)
    except NoRunError as exc:
        d.reasons.append(f"stage {validating:g} has not been validated: {exc}")
        return d
    d.run = run
    report = load_report(run)
    gate = evaluate_run(report, load_policy()[validating])
    if not gate["passed"]:
        d.reasons.append(
            f"stage {validating:g}'s latest whole run {report['run_id']} did not pass: "
            + "; ".join(gate["reasons"])
        )
    d.reasons += current_checkout_problems(report, engine)
    created = ledger.parse_time(report["created"], f"report {run}: created")
    age = (now - created).total_seconds() / 86400
    if age > rules.validation_max_age_days:
        d.reasons.append(
            f"the validating run {report['run_id']} is {age:.1f} days old; the policy accepts "
            f"at most {rules.validation_max_age_days} (validate stage {validating:g} again)"
        )
    d.author = report["provenance"].get("author")
    if by is None:
        d.notes.append(f"approver not checked (give --by NAME); the run's author: {d.author}")
    elif not rules.author_may_approve:
        if d.author is None:
            d.reasons.append(
                f"the validating run {report['run_id']} records no author, so approval by "
                f"{by} cannot be told from self-approval (set VERITAS_RUN_AUTHOR or git "
                "config user.name when validating)"
            )
        elif d.author.strip().casefold() == by.strip().casefold():
            d.reasons.append(
                f"{by} ran the validating run {report['run_id']}: self-approval is not allowed "
                "by the policy (rollout.author_may_approve: false); another person approves"
            )
    if index and current == validating and state.since is not None:
        days = (now - state.since).total_seconds() / 86400
        need = load_policy()[to].min_days_in_previous_stage
        if days < need:
            d.reasons.append(
                f"stage {validating:g} entered {days:.1f} days ago; the policy needs "
                f"{need} days before {to:g}"
            )
    if current is None:
        d.notes.append("cohorts: none needed to enter the first stage (no Queue traffic before it)")
    elif current == validating and state.since is not None:
        try:
            d.cohorts = cohorts(current, state.since)
        except CohortError as exc:
            # No figures is no evidence: refused like INCONCLUSIVE, with the reason.
            d.reasons.append(f"production cohorts of stage {current:g} cannot be read: {exc}")
            return d
        if d.cohorts.verdict != "PASS":
            figures = "; ".join(
                f"{m.metric} {m.verdict}: {m.detail}"
                for m in d.cohorts.metrics
                if m.verdict != "PASS"
            )
            d.reasons.append(
                f"production cohorts of stage {current:g} since {d.cohorts.since}: "
                f"{d.cohorts.verdict} ({figures})"
            )
    return d


def gate_reasons(
    report_dir: Path,
    to: float,
    now: dt.datetime | None = None,
    engine: str | None = None,
    *,
    cohorts: Cohorts,
    by: str | None = None,
) -> list[str]:
    return decide(report_dir, to, cohorts=cohorts, by=by, now=now, engine=engine).reasons


def cohorts_of(args: argparse.Namespace) -> Cohorts:
    """The cohort source the command line names (--prometheus URL, else --metrics PATH)."""

    def read(stage: float, since: dt.datetime) -> CohortReport:
        return observe(stage, since, metrics=args.metrics, prometheus=args.prometheus)

    return read


def _print(d: Decision, verb: str) -> None:
    print(f"advance to {d.to:g}: {verb}")
    for reason in d.reasons:
        print(f"  - {visible(reason)}")
    for note in d.notes:
        print(f"  note: {visible(note)}")
    if d.cohorts is not None:
        print(table(d.cohorts))


def gate(args: argparse.Namespace) -> int:
    d = decide(args.report_dir, args.to, cohorts=cohorts_of(args), by=args.by, engine=args.engine)
    _print(d, "ALLOWED" if not d.reasons else "REFUSED")
    return 0 if not d.reasons else 1


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _advance(args: argparse.Namespace) -> int:
    d = decide(args.report_dir, args.to, cohorts=cohorts_of(args), by=args.by, engine=args.engine)
    if d.reasons or d.run is None:
        _print(d, "REFUSED")
        return 1
    state = ledger.rollout_state(args.report_dir)
    code = code_version()
    report = load_report(d.run)
    entry = ledger.append(
        args.report_dir,
        {
            "kind": "advance",
            "at": _now(),
            "by": args.by,
            "reason": args.reason,
            "stage": args.to,
            "previous_stage": state.stage,
            "validated_run": d.run.name,
            "report_sha256": report_sha256(d.run),
            "report_author": d.author,
            "engine": (report["provenance"].get("engine") or {}).get("spec"),
            "code_digest": code["digest"],
            "commit": code["commit"],
            "cohorts": d.cohorts.summary() if d.cohorts is not None else None,
        },
    )
    print(
        f"advanced to {args.to:g} on run {d.run.name}, approved by {visible(args.by)}; "
        f"recorded in {args.report_dir / ledger.LEDGER} ({entry['sha256'][:19]})"
    )
    print(f"QUEUE_IPC_ROLLOUT={args.to:g}")
    return 0


def _halt(args: argparse.Namespace) -> int:
    state = ledger.rollout_state(args.report_dir)
    if state.stage is None:
        print("halt: REFUSED\n  - the rollout has not started: nothing to halt")
        return 1
    if state.halt is not None:
        print(f"halt: REFUSED\n  - the rollout is already halted since {state.halt['at']}")
        return 1
    ledger.append(
        args.report_dir,
        {
            "kind": "halt",
            "at": _now(),
            "by": args.by,
            "reason": args.reason,
            "stage": state.stage,
            "previous_stage": state.stage,
            "commit": code_version()["commit"],
        },
    )
    print(f"halted at stage {state.stage:g}: no advance until `harness resume`")
    return 0


def _resume(args: argparse.Namespace) -> int:
    state = ledger.rollout_state(args.report_dir)
    if state.halt is None or state.stage is None:
        print("resume: REFUSED\n  - the rollout is not halted")
        return 1
    ledger.append(
        args.report_dir,
        {
            "kind": "resume",
            "at": _now(),
            "by": args.by,
            "reason": args.reason,
            "stage": state.stage,
            "previous_stage": state.stage,
            "commit": code_version()["commit"],
        },
    )
    print(f"resumed at stage {state.stage:g} (halted since {state.halt['at']})")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    """A step back is always allowed (halted or not): it is the safe direction. The stage it
    enters starts its soak again: the next advance counts days and cohorts from here."""
    state = ledger.rollout_state(args.report_dir)
    if state.stage is None or args.to >= state.stage:
        at = f"{state.stage:g}" if state.stage is not None else "not started"
        print(f"rollback to {args.to:g}: REFUSED\n  - the rollout is at {at}: not a step back")
        return 1
    ledger.append(
        args.report_dir,
        {
            "kind": "rollback",
            "at": _now(),
            "by": args.by,
            "reason": args.reason,
            "stage": args.to,
            "previous_stage": state.stage,
            "commit": code_version()["commit"],
        },
    )
    print(f"rolled back from {state.stage:g} to {args.to:g}; recorded")
    print(f"QUEUE_IPC_ROLLOUT={args.to:g}")
    return 0


def _decision(act: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """*act* read, decided and recorded under the ledger's lock: a decision made at the same
    time by someone else is served first or after, never interleaved."""

    def locked(args: argparse.Namespace) -> int:
        with ledger.decision_lock(args.report_dir):
            return act(args)

    locked.__doc__ = act.__doc__
    return locked


advance = _decision(_advance)
halt = _decision(_halt)
resume = _decision(_resume)
rollback = _decision(_rollback)
