"""The backend's audit history: one SQLite row per audit, beside the metrics store.

The metrics store keeps what the rollout needs (one row per child run); the history keeps what
a user asks for (``GET /api/audits``, the status of an audit no longer in memory): the request,
its status, the trust score and risk level, and the final state. Created user-only (0600),
WAL mode, safe with several writers, like the metrics store.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from veritas.parent.console import visible

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    audit_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    tier TEXT NOT NULL,
    ipc TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,
    trust_score REAL,
    risk_level TEXT,
    error TEXT,
    ipc_outcome TEXT,
    final_state TEXT
)
"""
_COLUMNS = ("audit_id", "url", "tier", "ipc", "created_at", "finished_at", "status",
            "trust_score", "risk_level", "error")  # fmt: skip


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"<HistoryStore {str(self.path)!r}>"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30.0)) as db, db:
            yield db

    def record(self, audit: dict[str, Any]) -> None:
        """Insert or replace the row of ``audit["audit_id"]`` (a status JSON of the registry)."""
        state = audit.get("final_state") or {}
        verdict = state.get("verdict")
        if not isinstance(verdict, dict):
            verdict = {}
        row = (
            audit["audit_id"],
            visible(audit["url"]),
            audit["tier"],
            audit.get("ipc"),
            audit["created_at"],
            audit.get("finished_at"),
            audit["status"],
            verdict.get("trust_score"),
            verdict.get("risk_level"),
            None if audit.get("error") is None else visible(str(audit["error"])),
            None if audit.get("ipc_outcome") is None else json.dumps(audit["ipc_outcome"]),
            None if not state else json.dumps(state, ensure_ascii=True),
        )
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO audits (audit_id, url, tier, ipc, created_at, finished_at,"
                " status, trust_score, risk_level, error, ipc_outcome, final_state)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )

    def page(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        """The total and one page of audits, newest first (no final states: they are large)."""
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            total = db.execute("SELECT COUNT(*) FROM audits").fetchone()[0]
            rows = db.execute(
                f"SELECT {', '.join(_COLUMNS)}, ipc_outcome FROM audits"
                " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return int(total), [_plain(r) for r in rows]

    def get(self, audit_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)}, ipc_outcome, final_state FROM audits"
                " WHERE audit_id = ?",
                (audit_id,),
            ).fetchone()
        return None if row is None else _plain(row)


def _plain(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in ("ipc_outcome", "final_state"):
        if key in data:
            data[key] = None if data[key] is None else json.loads(data[key])
    return data
