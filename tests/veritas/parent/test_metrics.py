from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from veritas.parent.metrics import MetricsStore, default_path
from veritas.parent.outcome import AuditOutcome


def outcome(i: int, *, mode: str = "queue", fallback: bool = False) -> AuditOutcome:
    o = AuditOutcome(
        audit_id=f"a{i}",
        url="https://x.example/",
        tier="quick_scan",
        mode_requested="queue",
        mode_used=mode,
        state="completed",
        fallback=fallback,
        fallback_reason="put timed out" if fallback else None,
    )
    o.events_by_transport = {"queue": 0 if fallback else 10, "stdout": 10 if fallback else 0}
    o.latencies_ms = [1.0, 2.0, 30.0]
    o.duration_s = 0.5
    return o


def test_concurrent_writers_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    MetricsStore(path)

    def writer(base: int) -> None:
        store = MetricsStore(path)
        for i in range(25):
            store.record(outcome(base + i))

    threads = [threading.Thread(target=writer, args=(100 * t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(MetricsStore(path).rows()) == 200


def test_status_aggregates_modes_and_fallbacks(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.sqlite3")
    for i in range(3):
        store.record(outcome(i))
    store.record(outcome(9, mode="stdout", fallback=True))
    status = store.status()
    assert status["audits"] == 4
    assert status["audits_by_mode"] == {"queue": 3, "stdout": 1}
    assert status["mode_usage_pct"] == {"queue": 75.0, "stdout": 25.0}
    assert status["fallbacks"] == 1 and status["fallback_reasons"] == {"put timed out": 1}
    assert status["success_rate"] == 1.0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_database_is_user_only(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "sub" / "m.sqlite3")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_path_comes_from_the_environment(tmp_path: Path) -> None:
    assert default_path({"VERITAS_METRICS_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    assert (
        default_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "veritas" / "metrics.sqlite3"
    )


def test_the_windows_default_is_under_local_app_data(tmp_path: Path) -> None:
    env = {"LOCALAPPDATA": str(tmp_path)}
    assert default_path(env, windows=True) == tmp_path / "veritas" / "metrics.sqlite3"
    assert default_path({}, windows=True).parts[-4:] == (
        "AppData",
        "Local",
        "veritas",
        "metrics.sqlite3",
    )


def test_text_no_utf8_writer_can_encode_is_stored_escaped(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "m.sqlite3")
    o = outcome(1, fallback=True)
    o.url = "https://x.example/\udcff\ud83d\ude00"  # an undecodable argv byte, a split pair
    o.fallback_reason = "put failed: \ud800"
    store.record(o)
    (row,) = store.rows()
    assert row["url"] == "https://x.example/\\udcff\\ud83d\\ude00"
    assert row["fallback_reason"] == "put failed: \\ud800"


def test_rows_carry_their_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.sqlite3"
    MetricsStore(path).record(outcome(1))
    MetricsStore(path, purpose="validation").record(outcome(2))
    monkeypatch.setenv("VERITAS_AUDIT_PURPOSE", "validation")
    MetricsStore(path).record(outcome(3))
    assert [r["purpose"] for r in MetricsStore(path).rows()] == [
        "production",
        "validation",
        "validation",
    ]


def test_a_bad_purpose_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from veritas.parent.mode import ConfigError

    monkeypatch.setenv("VERITAS_AUDIT_PURPOSE", "canary")
    with pytest.raises(ConfigError, match=r"VERITAS_AUDIT_PURPOSE=.canary.*production, validation"):
        MetricsStore(tmp_path / "m.sqlite3")


def test_a_store_from_before_purposes_is_migrated_and_reads_as_production(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    store = MetricsStore(path)
    store.record(outcome(1))
    with sqlite3.connect(path) as db:  # the store as it was before the column existed
        db.execute("ALTER TABLE audits DROP COLUMN purpose")
    reopened = MetricsStore(path)
    reopened.record(outcome(2))
    assert [r["purpose"] for r in reopened.rows()] == ["production", "production"]
