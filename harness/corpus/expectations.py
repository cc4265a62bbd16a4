"""A case's sanity expectations, checked against one audit's events (not part of the diff)."""

from __future__ import annotations

from typing import Any

from harness.corpus.cases import Case
from veritas.protocol.event import TERMINAL_TYPES, ProgressEvent


def check_expectations(case: Case, events: list[ProgressEvent]) -> list[str]:
    """Every expectation of *case* that *events* break (empty when all hold)."""
    exp = case.expect
    problems: list[str] = []
    terminal = events[-1] if events and events[-1].type in TERMINAL_TYPES else None
    final: dict[str, Any] = terminal.summary if terminal is not None else {}
    if exp.final_type is not None:
        if exp.final_type == "timeout":
            kind = (final.get("error") or {}).get("kind") if terminal else None
            if terminal is None or terminal.type != "audit_error" or kind != "timeout":
                got = f"{terminal.type} ({kind})" if terminal else "no terminal event"
                problems.append(f"expected an audit_error of kind timeout, got {got}")
        elif terminal is None or terminal.type != exp.final_type:
            problems.append(
                f"expected {exp.final_type}, got {terminal.type if terminal else 'no terminal event'}"
            )
    findings = [e for e in events if e.type == "finding"]
    for label, value, low, high in (
        ("events", len(events), exp.min_events, exp.max_events),
        ("findings", len(findings), exp.min_findings, exp.max_findings),
    ):
        if low is not None and value < low:
            problems.append(f"{value} {label}, expected at least {low}")
        if high is not None and value > high:
            problems.append(f"{value} {label}, expected at most {high}")
    if exp.risk_level:
        level = (final.get("verdict") or {}).get("risk_level")
        if level not in exp.risk_level:
            problems.append(f"risk level {level!r}, expected one of {list(exp.risk_level)}")
    seen = {str(e.summary.get("type")) for e in findings} | {
        str(e.summary.get("category")) for e in findings
    }
    missing = [c for c in exp.finding_categories if c not in seen]
    if missing:
        problems.append(f"finding categories missing: {missing}")
    return problems
