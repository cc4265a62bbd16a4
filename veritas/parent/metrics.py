"""The metrics store: one SQLite row per audit, safe with concurrent writers.

Path: ``VERITAS_METRICS_DB``, else ``$XDG_STATE_HOME/veritas/metrics.sqlite3`` (POSIX,
default ``~/.local/state``) or ``%LOCALAPPDATA%\\veritas\\metrics.sqlite3`` (Windows).
The file is created user-only (0600) where the platform allows. WAL mode and a busy timeout
let several processes (xdist workers, web workers) write at once.

Each row carries its ``purpose``: ``production`` (the default) or ``validation`` (both runs of
``veritas audit --validate-ipc``, and every audit started under ``VERITAS_AUDIT_PURPOSE=validation``,
which the harness sets for the audits it starts). Production cohorts count production rows
only. A store written before the column existed gains it on open (``ALTER TABLE``); its old
rows read as ``production``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from veritas.parent.console import visible
from veritas.parent.mode import ConfigError
from veritas.parent.outcome import AuditOutcome, percentile

PURPOSE_ENV = "VERITAS_AUDIT_PURPOSE"
PURPOSES = ("production", "validation")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at REAL NOT NULL,
    audit_id TEXT NOT NULL,
    url TEXT NOT NULL,
    tier TEXT NOT NULL,
    mode_requested TEXT NOT NULL,
    mode_used TEXT NOT NULL,
    fallback INTEGER NOT NULL,
    fallback_reason TEXT,
    events_queue INTEGER NOT NULL,
    events_stdout INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    latency_p50_ms REAL NOT NULL,
    latency_p99_ms REAL NOT NULL,
    state TEXT NOT NULL,
    success INTEGER NOT NULL,
    exit_code INTEGER,
    ipc_faults TEXT NOT NULL
)
"""


def default_path(
    env: Mapping[str, str] | None = None, *, windows: bool = sys.platform == "win32"
) -> Path:
    env = os.environ if env is None else env
    if env.get("VERITAS_METRICS_DB"):
        return Path(env["VERITAS_METRICS_DB"]).expanduser()
    if windows:
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "veritas" / "metrics.sqlite3"


def audit_purpose(env: Mapping[str, str] | None = None) -> str:
    """The purpose recorded with each audit: ``VERITAS_AUDIT_PURPOSE``, else production."""
    env = os.environ if env is None else env
    raw = env.get(PURPOSE_ENV, "")
    value = raw.strip().lower() or "production"
    if value not in PURPOSES:
        raise ConfigError(
            f"{PURPOSE_ENV}={raw!r} is not a purpose; accepted: {', '.join(PURPOSES)}"
        )
    return value


def _add_purpose_column(db: sqlite3.Connection) -> None:
    """Migrate a store written before rows had a purpose (old rows: production)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(audits)")}
    if "purpose" in columns:
        return
    try:
        db.execute("ALTER TABLE audits ADD COLUMN purpose TEXT NOT NULL DEFAULT 'production'")
    except sqlite3.OperationalError as exc:
        # Another process opening the same old store may have added it first.
        if "duplicate column" not in str(exc):
            raise


class MetricsStore:
    def __init__(self, path: Path | str | None = None, *, purpose: str | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        #: None: each record reads VERITAS_AUDIT_PURPOSE (checked here, so a bad value is early)
        self.purpose = purpose
        if purpose is not None and purpose not in PURPOSES:
            raise ValueError(f"MetricsStore purpose {purpose!r}; accepted: {', '.join(PURPOSES)}")
        audit_purpose()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Create it user-only before SQLite opens it with the process umask.
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            _add_purpose_column(db)

    def __repr__(self) -> str:
        return f"<MetricsStore {str(self.path)!r}>"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30.0)) as db, db:
            yield db

    def record(self, outcome: AuditOutcome) -> None:
        lat = outcome.latency_summary()
        # SQLite stores UTF-8: text that a URL or an error may carry (a lone surrogate from an
        # undecodable argv byte, say) is stored with its escapes, never refused.
        row = (
            time.time(),
            visible(outcome.audit_id),
            visible(outcome.url),
            outcome.tier,
            outcome.mode_requested,
            outcome.mode_used,
            int(outcome.fallback),
            None if outcome.fallback_reason is None else visible(outcome.fallback_reason),
            outcome.events_by_transport["queue"],
            outcome.events_by_transport["stdout"],
            outcome.duration_s,
            lat["p50_ms"],
            lat["p99_ms"],
            outcome.state,
            int(outcome.state == "completed"),
            outcome.exit_code,
            json.dumps(outcome.ipc_faults),
            self.purpose or audit_purpose(),
        )
        with self._connect() as db:
            db.execute(
                "INSERT INTO audits (recorded_at, audit_id, url, tier, mode_requested, mode_used,"
                " fallback, fallback_reason, events_queue, events_stdout, duration_s,"
                " latency_p50_ms, latency_p99_ms, state, success, exit_code, ipc_faults, purpose)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def rows(self) -> list[dict[str, Any]]:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM audits ORDER BY id")]

    def status(self, *, purpose: str | None = None, since: float | None = None) -> dict[str, Any]:
        """Aggregate figures for ``veritas rollout status``: of the rows of *purpose* (all
        when None) recorded at or after *since* (a Unix time; all when None)."""
        rows = [
            r
            for r in self.rows()
            if (purpose is None or r["purpose"] == purpose)
            and (since is None or r["recorded_at"] >= since)
        ]
        total = len(rows)
        by_mode = {m: sum(1 for r in rows if r["mode_used"] == m) for m in ("queue", "stdout")}
        reasons: dict[str, int] = {}
        for r in rows:
            if r["fallback"]:
                key = r["fallback_reason"] or "unknown"
                reasons[key] = reasons.get(key, 0) + 1
        durations = [r["duration_s"] for r in rows]
        p99s = [r["latency_p99_ms"] for r in rows]
        return {
            "audits": total,
            "audits_by_mode": by_mode,
            "mode_usage_pct": {
                m: round(100.0 * n / total, 1) if total else 0.0 for m, n in by_mode.items()
            },
            "success_rate": round(sum(r["success"] for r in rows) / total, 4) if total else None,
            "success_rate_by_mode": {
                m: round(sum(r["success"] for r in rows if r["mode_used"] == m) / n, 4)
                if n
                else None
                for m, n in by_mode.items()
            },
            "fallbacks": sum(reasons.values()),
            "fallback_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
            "duration_s": {
                "p50": round(percentile(durations, 50), 3),
                "p99": round(percentile(durations, 99), 3),
            },
            "latency_p99_ms": {
                "p50": round(percentile(p99s, 50), 3),
                "max": round(max(p99s), 3) if p99s else 0.0,
            },
        }
