"""The gate of one run: does its evidence let the stage pass?

A run gates only if it is whole and clean (``report["scope"]``), every case is ``match`` or
``ignored`` within the policy's limits, each mode ran the policy's minimum audits, every Queue
run is attested, and the code is a commit. The same function decides when the report is
written and again, from the cases, whenever it is read.
"""

from __future__ import annotations

from typing import Any

from harness.policy import StagePolicy
from harness.report.result import CaseResult, StageReport


class ReportError(ValueError):
    """A report that cannot be used (unreadable, wrong schema, stale)."""


def evaluate_run(report: StageReport, policy: StagePolicy) -> dict[str, Any]:
    """The gate of one run: every reason it fails, or none."""
    return decide_gate(
        report["totals"], report["scope"], report["cases"], report["provenance"]["code"], policy
    )


def decide_gate(
    totals: dict[str, Any],
    scope: dict[str, Any],
    cases: list[CaseResult],
    code: dict[str, Any],
    policy: StagePolicy,
) -> dict[str, Any]:
    """The gate from the parts of a report it rests on (a report being assembled has no gate
    yet, so it cannot be a whole ``StageReport``)."""
    t = totals
    reasons: list[str] = [f"not a gating run: {r}" for r in scope["not_gating"]]
    for mode, n in t["audits_per_mode"].items():
        if n < policy.min_audits_per_mode:
            reasons.append(
                f"{mode} ran {n} audits; the stage needs at least {policy.min_audits_per_mode}"
            )
    if t["mismatch"] > policy.max_mismatches:
        reasons.append(f"{t['mismatch']} mismatches (at most {policy.max_mismatches} allowed)")
    if t["inconclusive"] > policy.max_inconclusive:
        reasons.append(
            f"{t['inconclusive']} inconclusive (at most {policy.max_inconclusive} allowed)"
        )
    unattested = [
        c.id for c in cases if c.runs.queue.attested_transport != "queue" and not c.failover
    ]
    if unattested:
        reasons.append(
            f"Queue runs not attested (events not all over the Queue): {', '.join(unattested)}"
        )
    if code.get("commit") is None:
        reasons.append("code version unknown (not a git checkout)")
    if code.get("dirty"):
        reasons.append("working tree was dirty: the report does not describe a commit")
    if not t["cases"]:
        reasons.append("no case ran")
    return {"passed": not reasons, "reasons": reasons}
