"""The rollout gate: does a run (and the ledger) allow a stage to pass or advance?"""

from __future__ import annotations

from typing import Any

from harness.policy import StagePolicy


class ReportError(ValueError):
    """A report that cannot be used (unreadable, wrong schema, stale)."""


def evaluate_run(report: dict[str, Any], policy: StagePolicy) -> dict[str, Any]:
    """The gate of one run: every reason it fails, or none."""
    t = report["totals"]
    reasons: list[str] = []
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
        c["id"]
        for c in report["cases"]
        if c["runs"]["queue"]["attested_transport"] != "queue" and not c.get("failover")
    ]
    if unattested:
        reasons.append(
            f"Queue runs not attested (events not all over the Queue): {', '.join(unattested)}"
        )
    code = report["provenance"]["code"]
    if code.get("commit") is None:
        reasons.append("code version unknown (not a git checkout)")
    if code.get("dirty"):
        reasons.append("working tree was dirty: the report does not describe a commit")
    return {"passed": not reasons, "reasons": reasons}
