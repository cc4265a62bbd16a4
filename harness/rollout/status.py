"""``harness status``, ``harness cohorts``, ``harness review`` (with the rollout) and
``harness migrate-ledger``: what the rollout is, and what its next step needs, on one screen."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from harness.policy import load_policy
from harness.report.check import load_report
from harness.report.gate import evaluate_run
from harness.report.page import render_html
from harness.report.runs import NoRunError, latest_run, review_run
from harness.rollout import ledger
from harness.rollout.advance import cohorts_of, decide
from harness.rollout.cohorts import CohortError, CohortReport, table
from harness.rollout.sources import observe
from veritas.parent.console import visible
from veritas.parent.mode import STAGES

STAGE_ENTRY = "stage-entry"


def since_arg(raw: str) -> str:
    """``--since``: ``stage-entry`` or an ISO 8601 time (checked here, resolved later)."""
    if raw != STAGE_ENTRY:
        try:
            ledger.parse_time(raw, "--since")
        except ledger.LedgerError:
            raise argparse.ArgumentTypeError(
                f"--since {raw!r}; accepted: {STAGE_ENTRY} or an ISO 8601 time "
                "(2026-03-01 or 2026-03-01T12:00:00+00:00)"
            ) from None
    return raw


def cohorts(args: argparse.Namespace) -> int:
    state = ledger.rollout_state(args.report_dir)
    stage = state.stage if state.stage is not None else STAGES[0]
    since = state.since if args.since == STAGE_ENTRY else ledger.parse_time(args.since, "--since")
    report = observe(stage, since, metrics=args.metrics, prometheus=args.prometheus)
    print(json.dumps(report.to_dict()) if args.json else table(report))
    return {"PASS": 0, "FAIL": 1}.get(report.verdict, 3)


def _ago(when: dt.datetime, now: dt.datetime) -> str:
    return f"{(now - when).total_seconds() / 86400:.1f} days ago"


def status(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    state = ledger.rollout_state(args.report_dir)
    path = args.report_dir / ledger.LEDGER
    move = state.stage_entry
    if state.stage is None or move is None or state.since is None:
        print("rollout: not started (no entry in the ledger); the Queue takes no audit")
    else:
        print(
            f"rollout: stage {state.stage:g} since {move['at']} ({_ago(state.since, now)}), "
            f"by {move['kind']} of {visible(str(move['by']))}: {visible(str(move['reason']))}"
        )
    if state.halt is not None:
        h = state.halt
        print(f"HALTED since {h['at']} by {visible(h['by'])}: {visible(h['reason'])}")
    else:
        print("halted: no")
    try:
        run = latest_run(args.report_dir, whole=True)
    except NoRunError:
        print("last validation: none")
    else:
        r = load_report(run)
        passed = evaluate_run(r, load_policy()[r["stage"]])["passed"]
        print(
            f"last validation: stage {r['stage']:g} run {r['run_id']} "
            f"({'passed' if passed else 'failed'}), by {r['provenance'].get('author')}, "
            f"created {r['created']}"
        )
    if state.stage is not None:
        try:
            print(
                table(
                    observe(
                        state.stage, state.since, metrics=args.metrics, prometheus=args.prometheus
                    )
                )
            )
        except CohortError as exc:
            print(f"cohorts: cannot be read: {visible(str(exc))}")
    nxt = [s for s in STAGES if state.stage is None or s > state.stage]
    if not nxt:
        print("next: none, the rollout is complete (stage 1.0)")
    else:
        d = decide(args.report_dir, nxt[0], cohorts=cohorts_of(args), engine=args.engine)
        verb = "allowed" if not d.reasons else "needs"
        print(f"next: advance to {nxt[0]:g} {verb}" + (":" if d.reasons else ""))
        for reason in d.reasons:
            print(f"  - {visible(reason)}")
    last = state.entries[-1]["sha256"][:19] if state.entries else "-"
    print(f"ledger: {path}, {len(state.entries)} entries, chain intact (last {last})")
    return 0


def rollout_view(
    report_dir: Path, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], CohortReport | None]:
    """The ledger (verified) and, if it can be read, the current stage's cohorts."""
    state = ledger.rollout_state(report_dir)
    report = None
    if state.stage is not None:
        try:
            report = observe(
                state.stage, state.since, metrics=args.metrics, prometheus=args.prometheus
            )
        except CohortError:
            report = None
    return state.entries, report


def review(args: argparse.Namespace) -> int:
    """``harness review``: refuses a broken ledger; refreshes the page with the rollout and
    the gate checked now."""
    entries, cohorts = rollout_view(args.report_dir, args)
    run, report, gate = review_run(args)
    checked = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **gate}
    html = render_html(
        report,
        run,
        rollout={
            "ledger": entries,
            "cohorts": cohorts.to_dict() if cohorts else None,
            "checked": checked,
        },
    )
    (run / "index.html").write_text(html, encoding="utf-8")
    return 0 if gate["passed"] else 1


def migrate_ledger(args: argparse.Namespace) -> int:
    if not (args.report_dir / ledger.LEGACY_LEDGER).exists():
        print(f"migrate-ledger: nothing to do: no {args.report_dir / ledger.LEGACY_LEDGER}")
        return 1
    written = ledger.migrate(args.report_dir, args.by)
    print(f"{len(written)} entries carried over into {args.report_dir / ledger.LEDGER}")
    return 0
