"""The real-audit event latency of a stage run: per mode, the median over cases of each
case's per-event p50 and p99 (``runs.<mode>.latency`` in report.yaml).

The median over cases, not a pooled percentile: each case's figures come from one audit, and
a case with thousands of events would otherwise outweigh the rest of the corpus. Only the
cases whose stdout and Queue runs both delivered events count, so the two modes are compared
over the same audits (a run that delivered nothing has no latency to speak of).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from harness.report.result import CaseResult

MODES = ("stdout", "queue")


@dataclass(frozen=True, kw_only=True)
class ModeLatency:
    """One mode's medians over the counted cases, in milliseconds."""

    mode: str
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, kw_only=True)
class LatencyMedians:
    #: The cases counted (both runs delivered events) and the cases left out.
    cases: int
    left_out: int
    modes: list[ModeLatency]


def latency_medians(cases: list[CaseResult]) -> LatencyMedians | None:
    """The medians per mode, or None when no case's two runs both delivered events."""
    counted = [c for c in cases if c.runs.stdout.events and c.runs.queue.events]
    if not counted:
        return None
    modes = []
    for mode in MODES:
        runs = [c.runs.stdout if mode == "stdout" else c.runs.queue for c in counted]
        modes.append(
            ModeLatency(
                mode=mode,
                p50_ms=round(statistics.median(r.latency.p50_ms for r in runs), 3),
                p99_ms=round(statistics.median(r.latency.p99_ms for r in runs), 3),
            )
        )
    return LatencyMedians(cases=len(counted), left_out=len(cases) - len(counted), modes=modes)
