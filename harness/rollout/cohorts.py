"""Production cohorts: the Queue cohort against the stdout cohort since a stage was entered.

A cohort is every *production* audit whose mode was **requested** as that mode (the rollout's
assignment, intent to treat): an audit assigned to the Queue that fell back to stdout stays in
the Queue cohort, so the Queue's failures and fallbacks are never credited to stdout.

Per metric the verdict is PASS, FAIL or INCONCLUSIVE, with one-sided exact tests at the
policy's ``alpha`` ("is the Queue worse?"):

* **failure rate** — Fisher's exact test on the 2×2 table (failed / not, Queue / stdout). It is
  exact for any sample size and for rates near 0, where normal approximations break down, and
  conservative: at equal rates it says "worse" at most ``alpha`` of the time. FAIL needs both
  significance and an observed excess above ``max_failure_rate_excess`` (a difference too small
  to matter is not a failure, however many audits show it).
* **fallback rate** — only the Queue falls back. The exact binomial test of "rate ≤
  ``max_fallback_rate``"; FAIL when it is rejected.
* **event latency** — Mann–Whitney U (a rank test: no assumption on the shape of latencies,
  which are skewed and heavy-tailed) on the per-audit event latency p99 (the metrics store) or
  on the events (a Prometheus histogram, ranked by bucket); FAIL needs significance and a p99
  ratio above ``max_latency_p99_ratio``.

Fewer than ``min_audits_per_mode`` audits in either cohort makes every comparison
INCONCLUSIVE — never PASS. Audit duration is shown, not judged: sticky bucketing puts different
sites in the two cohorts, and a site's duration is mostly the site.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.policy import CohortPolicy
from harness.report.gate import ReportError
from veritas.parent.outcome import percentile

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
MODES = ("queue", "stdout")
#: Outcome states that are the audit's failure (``cancelled``: the client left; not a failure).
FAILED_STATES = frozenset({"failed", "timeout", "crashed"})


class CohortError(ReportError):
    """Cohort figures that cannot be read (a missing store, an unreachable Prometheus)."""


@dataclass
class ModeCohort:
    """The figures of one cohort (one requested mode)."""

    mode: str
    audits: int = 0
    failures: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    #: what the latency rank test compares (see the module docstring), in ms
    latency_samples_ms: list[float] = field(default_factory=list, repr=False)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    duration_p50_s: float | None = None
    duration_p99_s: float | None = None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.audits if self.audits else None

    @property
    def fallback_count(self) -> int:
        return sum(self.fallbacks.values())

    @property
    def fallback_rate(self) -> float | None:
        return self.fallback_count / self.audits if self.audits else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latency_samples_ms")
        data["failure_rate"] = _round(self.failure_rate)
        data["fallback_rate"] = _round(self.fallback_rate)
        return data


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    verdict: Verdict
    detail: str
    p_value: float | None = None


@dataclass
class CohortReport:
    stage: float | None
    since: str | None
    source: str
    cohorts: dict[str, ModeCohort]
    metrics: list[MetricVerdict]
    policy: dict[str, Any]

    @property
    def verdict(self) -> Verdict:
        verdicts = {m.verdict for m in self.metrics}
        if "FAIL" in verdicts:
            return "FAIL"
        return "INCONCLUSIVE" if "INCONCLUSIVE" in verdicts or not verdicts else "PASS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "since": self.since,
            "source": self.source,
            "verdict": self.verdict,
            "cohorts": {m: c.to_dict() for m, c in self.cohorts.items()},
            "metrics": [asdict(m) for m in self.metrics],
            "policy": self.policy,
        }

    def summary(self) -> dict[str, Any]:
        """What the ledger keeps of the figures an advance rested on."""
        data = self.to_dict()
        return {k: data[k] for k in ("since", "source", "verdict", "cohorts", "metrics")}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _p(value: float) -> str:
    return f"p={value:.3g}"


def compare(
    cohorts: dict[str, ModeCohort], policy: CohortPolicy, alpha: float
) -> list[MetricVerdict]:
    """The verdict of each metric, Queue against stdout, under *policy*."""
    from scipy import stats

    q, s = cohorts["queue"], cohorts["stdout"]
    need = policy.min_audits_per_mode
    short = [c for c in (q, s) if c.audits < need]
    if short:
        why = ", ".join(f"{c.mode} {c.audits}" for c in short)
        detail = f"too few production audits ({why}); the stage needs {need} per mode"
        return [
            MetricVerdict(m, "INCONCLUSIVE", detail)
            for m in ("failure_rate", "fallback_rate", "event_latency")
        ]
    out = []
    # Failure rate: is the Queue's significantly above stdout's, and by more than the margin?
    table = [[q.failures, q.audits - q.failures], [s.failures, s.audits - s.failures]]
    p_fail = float(stats.fisher_exact(table, alternative="greater").pvalue)
    excess = (q.failure_rate or 0.0) - (s.failure_rate or 0.0)
    worse = p_fail < alpha and excess > policy.max_failure_rate_excess
    out.append(
        MetricVerdict(
            "failure_rate",
            "FAIL" if worse else "PASS",
            f"queue {q.failures}/{q.audits} ({_pct(q.failure_rate)}) vs stdout "
            f"{s.failures}/{s.audits} ({_pct(s.failure_rate)}): excess {100 * excess:+.2f} "
            f"points (at most +{100 * policy.max_failure_rate_excess:.2f}), Fisher one-sided "
            f"{_p(p_fail)} (alpha {alpha:g})",
            p_fail,
        )
    )
    # Fallback rate: is the Queue's significantly above the policy's maximum?
    k = q.fallback_count
    p_fb = float(stats.binomtest(k, q.audits, policy.max_fallback_rate, "greater").pvalue)
    out.append(
        MetricVerdict(
            "fallback_rate",
            "FAIL" if p_fb < alpha else "PASS",
            f"queue fell back in {k}/{q.audits} ({_pct(q.fallback_rate)}; at most "
            f"{_pct(policy.max_fallback_rate)}), exact binomial one-sided {_p(p_fb)}",
            p_fb,
        )
    )
    # Event latency: a rank test, and the p99 ratio as the size of the difference.
    if not q.latency_samples_ms or not s.latency_samples_ms:
        out.append(MetricVerdict("event_latency", "INCONCLUSIVE", "no latency samples"))
        return out
    p_lat = float(
        stats.mannwhitneyu(q.latency_samples_ms, s.latency_samples_ms, alternative="greater").pvalue
    )
    qp, sp = q.latency_p99_ms or 0.0, s.latency_p99_ms or 0.0
    ratio = qp / sp if sp > 0 else (math.inf if qp > 0 else 1.0)
    slower = p_lat < alpha and ratio > policy.max_latency_p99_ratio
    out.append(
        MetricVerdict(
            "event_latency",
            "FAIL" if slower else "PASS",
            f"p99 queue {qp:.3f} ms vs stdout {sp:.3f} ms: ratio {ratio:.2f} (at most "
            f"{policy.max_latency_p99_ratio:g}), Mann-Whitney one-sided {_p(p_lat)}",
            p_lat,
        )
    )
    return out


def cohort_report(
    cohorts: dict[str, ModeCohort],
    policy: CohortPolicy,
    alpha: float,
    *,
    stage: float | None,
    since: dt.datetime | None,
    source: str,
) -> CohortReport:
    return CohortReport(
        stage=stage,
        since=since.isoformat(timespec="seconds") if since else None,
        source=source,
        cohorts=cohorts,
        metrics=compare(cohorts, policy, alpha),
        policy={"alpha": alpha, **asdict(policy)},
    )


def from_rows(rows: list[dict[str, Any]]) -> dict[str, ModeCohort]:
    """Cohorts from metrics-store rows (already restricted to production and the window)."""
    cohorts = {m: ModeCohort(m) for m in MODES}
    p50s: dict[str, list[float]] = {m: [] for m in MODES}
    durations: dict[str, list[float]] = {m: [] for m in MODES}
    for row in rows:
        c = cohorts.get(str(row["mode_requested"]))
        if c is None:
            continue
        c.audits += 1
        c.failures += row["state"] in FAILED_STATES
        if row["fallback"]:
            reason = row["fallback_reason"] or "unknown"
            c.fallbacks[reason] = c.fallbacks.get(reason, 0) + 1
        c.latency_samples_ms.append(float(row["latency_p99_ms"]))
        p50s[c.mode].append(float(row["latency_p50_ms"]))
        durations[c.mode].append(float(row["duration_s"]))
    for m, c in cohorts.items():
        if c.audits:
            # Event latency: the median audit's p50 and the p99 over the audits' p99s.
            c.latency_p50_ms = round(percentile(p50s[m], 50), 3)
            c.latency_p99_ms = round(percentile(c.latency_samples_ms, 99), 3)
            c.duration_p50_s = round(percentile(durations[m], 50), 3)
            c.duration_p99_s = round(percentile(durations[m], 99), 3)
    return cohorts


def from_store(path: Path, since: dt.datetime | None) -> dict[str, ModeCohort]:
    """Production cohorts from a metrics store, read-only (a store without the ``purpose``
    column predates validation tagging: all its rows are production)."""
    if not path.is_file():
        raise CohortError(
            f"metrics store {path}: no such file (set --metrics or VERITAS_METRICS_DB)"
        )
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0) as db:
            db.row_factory = sqlite3.Row
            columns = {r[1] for r in db.execute("PRAGMA table_info(audits)")}
            if not columns:
                raise CohortError(f"metrics store {path}: no 'audits' table")
            where = ["recorded_at >= ?"]
            if "purpose" in columns:
                where.append("purpose = 'production'")
            cutoff = since.timestamp() if since else 0.0
            rows = [
                dict(r)
                for r in db.execute(
                    f"SELECT * FROM audits WHERE {' AND '.join(where)} ORDER BY id", (cutoff,)
                )
            ]
    except sqlite3.DatabaseError as exc:
        raise CohortError(f"metrics store {path}: cannot read it: {exc}") from None
    return from_rows(rows)


def table(report: CohortReport) -> str:
    """The cohorts and verdicts as text (``harness cohorts``, ``harness status``, the gate)."""
    since = report.since or "the beginning"
    stage = f"stage {report.stage:g}" if report.stage is not None else "no stage"
    lines = [f"cohorts ({stage}, production audits since {since}; {report.source})"]
    lines.append(
        f"  {'mode':<7}{'audits':>8}{'failed':>8}{'fail %':>9}{'fallbk':>8}"
        f"{'lat p50':>10}{'lat p99':>10}{'dur p50':>9}{'dur p99':>9}"
    )
    for c in report.cohorts.values():
        lines.append(
            f"  {c.mode:<7}{c.audits:>8}{c.failures:>8}{_pct(c.failure_rate):>9}"
            f"{c.fallback_count:>8}{_num(c.latency_p50_ms):>10}{_num(c.latency_p99_ms):>10}"
            f"{_num(c.duration_p50_s):>9}{_num(c.duration_p99_s):>9}"
        )
        for reason, n in sorted(c.fallbacks.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {'':<7}{n:>8} × fallback: {reason}")
    lines.append("  (latency in ms, duration in s; duration is shown, not judged)")
    for m in report.metrics:
        lines.append(f"  {m.verdict:<12} {m.metric}: {m.detail}")
    lines.append(f"cohort verdict: {report.verdict}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
