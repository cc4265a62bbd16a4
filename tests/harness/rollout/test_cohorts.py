"""Production cohorts: the verdicts, the metrics store as a source, Prometheus as a source."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from harness.cli import main as harness_main
from harness.policy import CohortPolicy
from harness.rollout import prometheus
from harness.rollout.cohorts import CohortError, ModeCohort, compare, from_store
from veritas.parent.metrics import MetricsStore
from veritas.parent.outcome import AuditOutcome

POLICY = CohortPolicy(0.1, 500, 0.02, 0.01, 1.5)
HERE = Path(__file__).resolve().parent


def cohort(mode: str, n: int, failures: int, fallbacks: int = 0, scale: float = 1.0) -> ModeCohort:
    rng = random.Random(f"{mode}{n}{failures}{scale}")
    lat = [rng.lognormvariate(0, 0.5) * 5 * scale for _ in range(n)]
    return ModeCohort(
        mode,
        audits=n,
        failures=failures,
        fallbacks={"put timed out": fallbacks} if fallbacks else {},
        latency_samples_ms=lat,
        latency_p99_ms=sorted(lat)[int(0.99 * (n - 1))] if n else None,
    )


def verdicts(q: ModeCohort, s: ModeCohort) -> dict[str, str]:
    return {m.metric: m.verdict for m in compare({"queue": q, "stdout": s}, POLICY, 0.05)}


def test_equal_cohorts_pass() -> None:
    assert set(verdicts(cohort("queue", 600, 30, 3), cohort("stdout", 600, 30)).values()) == {
        "PASS"
    }


def test_below_the_minimum_is_inconclusive_never_pass_even_if_clearly_worse() -> None:
    got = compare(
        {"queue": cohort("queue", 499, 200), "stdout": cohort("stdout", 5000, 10)}, POLICY, 0.05
    )
    assert {m.verdict for m in got} == {"INCONCLUSIVE"}
    assert "too few production audits (queue 499); the stage needs 500 per mode" in got[0].detail


def test_a_queue_failing_twice_as_often_fails() -> None:
    got = verdicts(cohort("queue", 1000, 100), cohort("stdout", 1000, 50))
    assert got["failure_rate"] == "FAIL" and got["event_latency"] == "PASS"


def test_a_significant_excess_within_the_margin_passes() -> None:
    # 2.0% vs 1.2% on 20,000 audits each is significant, but 0.8 points is within the margin.
    got = verdicts(cohort("queue", 20000, 400), cohort("stdout", 20000, 240))
    assert got["failure_rate"] == "PASS"


def test_fallbacks_above_the_maximum_fail() -> None:
    got = verdicts(cohort("queue", 1000, 50, fallbacks=45), cohort("stdout", 1000, 50))
    assert got["fallback_rate"] == "FAIL"


def test_a_slower_queue_fails_on_latency() -> None:
    got = verdicts(cohort("queue", 800, 40, scale=2.0), cohort("stdout", 800, 40))
    assert got["event_latency"] == "FAIL"


def _outcome(i: int, mode: str, state: str = "completed") -> AuditOutcome:
    o = AuditOutcome(f"a{i}", "https://x.example/", "quick_scan", mode, mode_used=mode, state=state)
    o.latencies_ms = [1.0, 2.0]
    o.duration_s = 0.5
    return o


def test_the_store_counts_production_only_by_requested_mode_since_the_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.sqlite3"
    store = MetricsStore(path)
    store.record(_outcome(0, "queue", "failed"))
    fell_back = _outcome(1, "queue")
    fell_back.mode_used, fell_back.fallback, fell_back.fallback_reason = "stdout", True, "x"
    store.record(fell_back)
    store.record(_outcome(2, "stdout", "cancelled"))
    MetricsStore(path, purpose="validation").record(_outcome(3, "queue", "failed"))
    cohorts = from_store(path, None)
    q, s = cohorts["queue"], cohorts["stdout"]
    assert (q.audits, q.failures, q.fallbacks) == (2, 1, {"x": 1})  # the fallback stays Queue's
    assert (s.audits, s.failures) == (1, 0)  # cancelled is not a failure
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert from_store(path, later)["queue"].audits == 0


def test_an_old_store_without_purposes_is_read(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    MetricsStore(path).record(_outcome(0, "queue"))
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE audits DROP COLUMN purpose")
    assert from_store(path, None)["queue"].audits == 1


def test_a_missing_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CohortError, match="no such file"):
        from_store(tmp_path / "none.sqlite3", None)
    argv = ["--report-dir", str(tmp_path), "cohorts", "--metrics", str(tmp_path / "none")]
    assert harness_main(argv) == 2
    assert "metrics store" in capsys.readouterr().err


def test_cohorts_command_says_inconclusive_with_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.sqlite3"
    store = MetricsStore(path)
    for i in range(3):
        store.record(_outcome(i, "queue"))
    argv = [
        "--report-dir",
        str(tmp_path),
        "cohorts",
        "--metrics",
        str(path),
        "--since",
        "2000-01-01",
    ]
    assert harness_main(argv) == 3
    out = capsys.readouterr().out
    assert "cohort verdict: INCONCLUSIVE" in out and "queue 3, stdout 0" in out
    assert harness_main([*argv, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["cohorts"]["queue"]["audits"] == 3


def test_a_bad_since_names_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        harness_main(["cohorts", "--since", "last tuesday"])
    assert "--since 'last tuesday'; accepted: stage-entry or an ISO 8601 time" in (
        capsys.readouterr().err
    )


def _recorded(url: str) -> bytes:
    responses = json.loads((HERE / "prometheus_responses.json").read_text())
    (promql,) = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["query"]
    assert url.startswith("http://prom.example:9090/api/v1/query?")
    assert 'purpose="production"' in promql and "[86400s]" in promql
    (name,) = [n for n in responses if n in promql]
    return json.dumps(responses[name]).encode()


def test_prometheus_cohorts_from_a_recorded_response() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    got = prometheus.from_prometheus(
        "http://prom.example:9090/", now - dt.timedelta(days=1), now, fetch=_recorded
    )
    q, s = got["queue"], got["stdout"]
    assert (q.audits, q.failures, q.fallbacks) == (
        603,
        12,
        {"put timed out": 4, "queue unavailable": 1},
    )
    assert (s.audits, s.failures) == (5402, 100)
    assert q.latency_p99_ms == pytest.approx(23.947, abs=0.001)
    assert s.latency_p99_ms == pytest.approx(24.487, abs=0.001)
    assert len(s.latency_samples_ms) == prometheus.MAX_SAMPLES  # scaled down for the rank test
    assert q.duration_p50_s == pytest.approx(4.701, abs=0.001) and s.duration_p99_s == 10.0
    assert set(verdicts(q, s).values()) == {"PASS"}


def test_a_prometheus_error_is_named() -> None:
    def failing(url: str) -> bytes:
        return b'{"status": "error", "errorType": "bad_data", "error": "parse error"}'

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(CohortError, match=r"query .*veritas_audits_total.* failed: parse error"):
        prometheus.from_prometheus("http://p", now - dt.timedelta(hours=1), now, fetch=failing)
