"""``GET /metrics``: the backend's audits in the Prometheus text format.

Counters and histograms per mode (requested and used), fallbacks by reason, and gauges of the
audits running and waiting. Each app has its own registry, so several apps (tests) never share
figures. A fallback reason carries figures ("put timed out after 10s with 1000 events …");
its label keeps the words only, so the number of series stays small.
"""

from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from veritas.parent.outcome import AuditOutcome

__all__ = ["CONTENT_TYPE", "AuditMetrics", "reason_label"]

_FIGURES = re.compile(r"[0-9][0-9.,]*")
MODES = ("queue", "stdout")
#: How an audit can end, as ``AuditOutcome.state`` says.
OUTCOMES = ("completed", "failed", "timeout", "crashed", "cancelled")


def reason_label(reason: str) -> str:
    """The kind of a fallback reason: text before the first colon or parenthesis, figures
    replaced by N, at most 80 characters."""
    head = re.split(r"[:(]", reason, maxsplit=1)[0]
    return _FIGURES.sub("N", head).strip()[:80] or "unknown"


class AuditMetrics:
    """The series ``harness cohorts --prometheus`` reads: audits by the mode the rollout
    requested (the cohort), the mode used and the outcome; fallbacks by requested mode and
    reason; each event's latency and each audit's duration as histograms by requested mode.
    Every series carries the backend's ``purpose`` (``VERITAS_AUDIT_PURPOSE``: production, or
    validation), so validation audits never count as production."""

    def __init__(self, purpose: str = "production") -> None:
        self.purpose = purpose
        self.registry = CollectorRegistry()
        r = self.registry
        self.audits = Counter(
            "veritas_audits", "Audits ended, by mode requested, mode used and outcome",
            ["mode_requested", "mode_used", "outcome", "purpose"], registry=r,
        )  # fmt: skip
        self.fallbacks = Counter(
            "veritas_fallbacks", "Queue audits that fell back to stdout, by reason",
            ["mode_requested", "reason", "purpose"], registry=r,
        )  # fmt: skip
        self.events = Counter(
            "veritas_events", "Events delivered, by the transport that carried them",
            ["transport"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "veritas_audit_duration_seconds", "Duration of an audit, by mode requested",
            ["mode_requested", "purpose"], registry=r,
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
        )  # fmt: skip
        self.latency = Histogram(
            "veritas_event_latency_seconds",
            "Time from the child's emit to the parent's delivery of each event, by mode requested",
            ["mode_requested", "purpose"], registry=r,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                     1, 5),
        )  # fmt: skip
        # Every series a cohort reads exists from the start, at 0: Prometheus's increase()
        # counts from a series' first sample, so a series born at 1 would lose its first audit.
        for requested in MODES:
            for used in MODES:
                for outcome in OUTCOMES:
                    self.audits.labels(requested, used, outcome, purpose)
            self.duration.labels(requested, purpose)
            self.latency.labels(requested, purpose)
        self.running = Gauge("veritas_audits_running", "Audits running now", registry=r)
        self.waiting = Gauge(
            "veritas_audits_waiting", "Audits whose client is connected, waiting for a slot",
            registry=r,
        )  # fmt: skip

    def observe(self, outcome: AuditOutcome) -> None:
        requested, purpose = outcome.mode_requested, self.purpose
        self.audits.labels(requested, outcome.mode_used, outcome.state, purpose).inc()
        if outcome.fallback:
            reason = reason_label(outcome.fallback_reason or "unknown")
            self.fallbacks.labels(requested, reason, purpose).inc()
        for transport, count in outcome.events_by_transport.items():
            self.events.labels(transport).inc(count)
        self.duration.labels(requested, purpose).observe(outcome.duration_s)
        latency = self.latency.labels(requested, purpose)
        for ms in outcome.latencies_ms:
            latency.observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
