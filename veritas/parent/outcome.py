"""``AuditOutcome``: what one audit run reports about itself (parent side, plain data)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: int) -> float:
    """The *q*-th percentile (an integer from 1 to 99) of *values*; 0.0 for no values.

    Linear interpolation between the closest ranks, with the smallest value at 0 and the
    largest at 100: ``statistics.quantiles(method="inclusive")``, the definition numpy and
    spreadsheets use by default (R's type 7). It never reports a latency no event had beyond
    the largest one (the ``exclusive`` method would extrapolate past it for p99 of fewer than
    99 values), and one value is every percentile of itself.
    """
    if not (isinstance(q, int) and 1 <= q <= 99):
        raise ValueError(f"percentile {q!r}: accepted: an integer from 1 to 99")
    if len(values) < 2:  # quantiles needs two points before Python 3.13
        return float(values[0]) if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class AuditOutcome:
    audit_id: str
    url: str
    tier: str
    mode_requested: str
    mode_used: str = "stdout"
    #: completed (audit_complete delivered) | failed (audit_error) | timeout | crashed |
    #: cancelled (the consumer went away: ``AuditRunner.run`` was cancelled)
    state: str = "crashed"
    fallback: bool = False
    fallback_reason: str | None = None
    queue_error: str | None = None
    events_by_transport: dict[str, int] = field(default_factory=lambda: {"queue": 0, "stdout": 0})
    #: [transport, first seq, count] for each run of consecutive events one transport delivered
    transport_runs: list[list[Any]] = field(default_factory=list)
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    exit_code: int | None = None
    final_state: dict[str, Any] | None = field(default=None, repr=False)
    error: str | None = None
    ipc_faults: list[str] = field(default_factory=list)
    replayed: int = 0
    malformed_lines: int = 0
    stray_stdout_lines: int = 0
    killed: int = 0
    leftovers_killed: int = 0  # processes the child left behind after it ended (POSIX)
    stderr_tail: list[str] = field(default_factory=list, repr=False)

    @property
    def events(self) -> int:
        return sum(self.events_by_transport.values())

    @property
    def attested_transport(self) -> str:
        """Which transport really delivered the events: queue, stdout, mixed or none."""
        q, s = self.events_by_transport["queue"], self.events_by_transport["stdout"]
        if q and s:
            return "mixed"
        return "queue" if q else ("stdout" if s else "none")

    def latency_summary(self) -> dict[str, float]:
        lat = self.latencies_ms
        return {
            "p50_ms": round(percentile(lat, 50), 3),
            "p99_ms": round(percentile(lat, 99), 3),
            "max_ms": round(max(lat), 3) if lat else 0.0,
        }

    def ipc_summary(self) -> dict[str, Any]:
        """Which transport delivered the audit: what ``--json`` and the backend report."""
        return {
            "mode_requested": self.mode_requested,
            "mode_used": self.mode_used,
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "events_by_transport": dict(self.events_by_transport),
        }

    def to_dict(self, *, with_state: bool = False) -> dict[str, Any]:
        """Plain JSON-able data (latencies summarised; the final state only on request)."""
        data = asdict(self)
        data.pop("latencies_ms")
        if not with_state:
            data.pop("final_state")
        data["events"] = self.events
        data["attested_transport"] = self.attested_transport
        data["latency"] = self.latency_summary()
        return data
