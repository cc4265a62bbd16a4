"""Production cohorts from a Prometheus server (``harness cohorts --prometheus URL``).

For a fleet, one SQLite store per machine is not the source of truth: every ``veritas serve``
exports counters and histograms on ``/metrics``, Prometheus scrapes them, and this module asks
Prometheus's HTTP API (``GET /api/v1/query``, an instant query evaluated now) for the increase
of each since the stage was entered. The series it expects (``veritas serve`` must export them):

* ``veritas_audits_total{mode_requested, mode_used, outcome, purpose}`` — counter, one per
  finished audit; ``outcome`` is the state (``completed``, ``failed``, ``timeout``, ``crashed``,
  ``cancelled``), ``purpose`` ``production`` or ``validation``;
* ``veritas_fallbacks_total{mode_requested, reason, purpose}`` — counter, one per audit that
  fell back to stdout;
* ``veritas_event_latency_seconds_bucket{mode_requested, purpose, le}`` — histogram of each
  event's latency (child emit to parent delivery);
* ``veritas_audit_duration_seconds_bucket{mode_requested, purpose, le}`` — histogram of audit
  durations.

``mode_requested`` is the cohort (the rollout's assignment); only ``purpose="production"``
series count. A series that existed when the window began and did not reset grows by exactly
its difference; only a series born or reset within the window falls back to ``increase()``,
which extrapolates to the window's edges (counts are rounded to whole audits). The latency rank test ranks events by their bucket (ties within a bucket).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from harness.rollout.cohorts import FAILED_STATES, MODES, CohortError, ModeCohort

Fetch = Callable[[str], bytes]

AUDITS = "veritas_audits_total"
FALLBACKS = "veritas_fallbacks_total"
EVENT_LATENCY = "veritas_event_latency_seconds_bucket"
DURATION = "veritas_audit_duration_seconds_bucket"
#: Most tied samples a histogram is expanded to for the rank test (counts are scaled down).
MAX_SAMPLES = 200_000


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CohortError(f"Prometheus query {url}: {exc}") from None


def queries(window_s: int) -> dict[str, str]:
    """The PromQL of each figure over the last *window_s* seconds (production series only)."""
    seconds = max(window_s, 1)
    prod = '{purpose="production"}'

    def grown(series: str, by: str) -> str:
        # The exact growth where the series existed at both ends and did not reset (the
        # backend creates its series at 0 when it starts); increase() only where it must
        # (a series born or reset within the window): increase() extrapolates to the window's
        # edges, which over a short window adds a scrape interval's worth of audits.
        s, w = f"{series}{prod}", f"[{seconds}s]"
        exact = f"(({s} - {s} offset {seconds}s) unless (resets({s}{w}) > 0))"
        return f"sum by ({by}) ({exact} or increase({s}{w}))"

    return {
        "audits": grown(AUDITS, "mode_requested, outcome"),
        "fallbacks": grown(FALLBACKS, "mode_requested, reason"),
        "latency": grown(EVENT_LATENCY, "mode_requested, le"),
        "duration": grown(DURATION, "mode_requested, le"),
    }


def query(base: str, promql: str, at: dt.datetime, fetch: Fetch = _fetch) -> list[dict[str, Any]]:
    """The result vector of an instant query; CohortError naming the query on any failure."""
    url = (
        base.rstrip("/")
        + "/api/v1/query?"
        + urllib.parse.urlencode({"query": promql, "time": f"{at.timestamp():.3f}"})
    )
    try:
        body = json.loads(fetch(url))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CohortError(
            f"Prometheus at {base}: not a JSON response to {promql!r}: {exc}"
        ) from None
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else body
        raise CohortError(f"Prometheus at {base}: query {promql!r} failed: {error}")
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise CohortError(
            f"Prometheus at {base}: query {promql!r} gave {data.get('resultType')!r}; "
            "expected a vector"
        )
    result: list[dict[str, Any]] = data.get("result") or []
    return result


def _value(sample: dict[str, Any]) -> float:
    value = float(sample["value"][1])
    return value if math.isfinite(value) else 0.0


def _buckets(samples: list[dict[str, Any]], mode: str) -> list[tuple[float, float]]:
    """Cumulative ``(le, count)`` of one mode, ordered by bound."""
    out = [
        (float(s["metric"]["le"]), _value(s))
        for s in samples
        if s["metric"].get("mode_requested") == mode and "le" in s["metric"]
    ]
    return sorted(out)


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus's ``histogram_quantile``: linear within the bucket the rank falls in."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # as Prometheus does: the highest finite bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return buckets[-1][0]


def rank_samples(buckets: list[tuple[float, float]]) -> list[float]:
    """One tied value per observation (a bucket's upper bound, +Inf as twice the highest
    finite bound): ranks are all a rank test needs. Scaled down above MAX_SAMPLES."""
    total = buckets[-1][1] if buckets else 0.0
    scale = min(1.0, MAX_SAMPLES / total) if total > 0 else 1.0
    finite = [b for b, _ in buckets if not math.isinf(b)]
    top = 2 * max(finite) if finite else 1.0
    samples: list[float] = []
    previous = 0.0
    for bound, count in buckets:
        n = round((count - previous) * scale)
        samples += [top if math.isinf(bound) else bound] * max(n, 0)
        previous = count
    return samples


def from_prometheus(
    base: str,
    since: dt.datetime,
    now: dt.datetime | None = None,
    fetch: Fetch = _fetch,
) -> dict[str, ModeCohort]:
    """Production cohorts from the Prometheus server at *base* since *since*."""
    now = now or dt.datetime.now(dt.UTC)
    window = int((now - since).total_seconds())
    if window <= 0:
        raise CohortError(f"cohort window from {since.isoformat()} to now is empty")
    q = queries(window)
    cohorts = {m: ModeCohort(m) for m in MODES}
    for s in query(base, q["audits"], now, fetch):
        c = cohorts.get(s["metric"].get("mode_requested", ""))
        if c is None:
            continue
        n = round(_value(s))
        c.audits += n
        if s["metric"].get("outcome") in FAILED_STATES:
            c.failures += n
    for s in query(base, q["fallbacks"], now, fetch):
        c = cohorts.get(s["metric"].get("mode_requested", ""))
        n = round(_value(s))
        if c is not None and n:
            reason = s["metric"].get("reason") or "unknown"
            c.fallbacks[reason] = c.fallbacks.get(reason, 0) + n
    latency = query(base, q["latency"], now, fetch)
    duration = query(base, q["duration"], now, fetch)
    for m, c in cohorts.items():
        lat = _buckets(latency, m)
        c.latency_samples_ms = [1000 * v for v in rank_samples(lat)]
        p50, p99 = quantile(lat, 0.5), quantile(lat, 0.99)
        c.latency_p50_ms = None if p50 is None else round(1000 * p50, 3)
        c.latency_p99_ms = None if p99 is None else round(1000 * p99, 3)
        dur = _buckets(duration, m)
        d50, d99 = quantile(dur, 0.5), quantile(dur, 0.99)
        c.duration_p50_s = None if d50 is None else round(d50, 3)
        c.duration_p99_s = None if d99 is None else round(d99, 3)
    return cohorts
