"""The backend's audits: their states, the concurrency limit, and running one.

An audit is created by ``POST /api/audit/start`` (status ``queued``) and run when its one
WebSocket client connects; at most ``max_concurrent`` run at once, the others wait in
``queued``. Its ending is recorded in the metrics store (by the runner), the history store and
the Prometheus figures. Finished audits stay in memory up to ``KEEP_FINISHED``; older ones are
answered from the history.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from veritas.child.faults import ENV as FAULT_ENV
from veritas.parent.metrics import MetricsStore
from veritas.parent.mode import Mode, select_mode
from veritas.parent.outcome import AuditOutcome
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent
from veritas.server.frames import ipc_outcome
from veritas.server.history import HistoryStore
from veritas.server.metrics_export import AuditMetrics
from veritas.server.requests import StartRequest
from veritas.server.settings import ServerSettings

log = logging.getLogger("veritas.server")

Send = Callable[[ProgressEvent], Awaitable[None]]
KEEP_FINISHED = 1000
#: the runner's ending -> the status a client sees
STATUS_OF_STATE = {"completed": "completed", "cancelled": "cancelled", "failed": "error",
                   "timeout": "error", "crashed": "error"}  # fmt: skip


class UnknownAudit(LookupError):
    pass


class AuditTaken(RuntimeError):
    """A second client for an audit that already has (or had) one."""


@dataclass
class AuditEntry:
    audit_id: str
    url: str
    tier: str
    ipc: Mode | None
    mode: Mode
    mode_source: str
    created_at: float
    status: str = "queued"
    claimed: bool = False
    finished_at: float | None = None
    outcome: AuditOutcome | None = None
    error: str | None = None
    #: the request, with its test-only fields (``--allow-file-urls``)
    request: StartRequest | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "error", "cancelled")

    def to_json(self) -> dict[str, Any]:
        out = self.outcome
        return {
            "audit_id": self.audit_id,
            "url": self.url,
            "tier": self.tier,
            "ipc": self.ipc,
            "mode": self.mode,
            "mode_source": self.mode_source,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "error": self.error if out is None or self.error else out.error,
            "final_state": None if out is None else out.final_state,
            "ipc_outcome": None if out is None else ipc_outcome(out),
        }


class AuditRegistry:
    def __init__(
        self,
        settings: ServerSettings,
        history: HistoryStore,
        store: MetricsStore,
        metrics: AuditMetrics,
    ) -> None:
        self.settings = settings
        self.history = history
        self.store = store
        self.metrics = metrics
        self._audits: dict[str, AuditEntry] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent)
        self.running = 0
        self.waiting = 0

    def __repr__(self) -> str:
        return (
            f"<AuditRegistry {len(self._audits)} audits, {self.running} running, "
            f"{self.waiting} waiting, max {self.settings.max_concurrent}>"
        )

    def create(self, request: StartRequest) -> AuditEntry:
        decision = select_mode(
            request.url, use_queue_ipc=request.ipc == "queue", use_stdout=request.ipc == "stdout"
        )
        entry = AuditEntry(
            audit_id=uuid.uuid4().hex[:12],
            url=request.url,
            tier=request.tier,
            ipc=request.ipc,
            mode=decision.mode,
            mode_source=decision.source,
            created_at=time.time(),
            request=request,
        )
        self._audits[entry.audit_id] = entry
        self.history.record(entry.to_json())
        log.info("audit %s queued: %s, IPC mode %s", entry.audit_id, entry.url,
                 decision.describe())  # fmt: skip
        return entry

    def status(self, audit_id: str) -> dict[str, Any] | None:
        entry = self._audits.get(audit_id)
        if entry is not None:
            return entry.to_json()
        return self.history.get(audit_id)

    def claim(self, audit_id: str) -> AuditEntry:
        """The audit for its one WebSocket client; UnknownAudit or AuditTaken otherwise."""
        entry = self._audits.get(audit_id)
        if entry is None:
            if self.history.get(audit_id) is not None:
                raise AuditTaken(f"audit {audit_id} has already run; its result: "
                                 f"GET /api/audit/{audit_id}/status")  # fmt: skip
            raise UnknownAudit(f"no audit {audit_id!r}; start one with POST /api/audit/start")
        if entry.claimed:
            raise AuditTaken(
                f"audit {audit_id} is {entry.status} and already has its client; "
                f"its result: GET /api/audit/{audit_id}/status"
            )
        entry.claimed = True
        return entry

    async def run(self, entry: AuditEntry, send: Send) -> AuditOutcome:
        """Wait for a slot, run the audit, record its ending. Cancelling it (the client went
        away) kills the child's tree and records ``cancelled``; other errors are recorded as
        ``error`` and raised."""
        self.waiting += 1
        self.metrics.waiting.inc()
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            self._finish(entry, None, "cancelled", "the client went away before the audit began")
            raise
        finally:
            self.waiting -= 1
            self.metrics.waiting.dec()
        self.running += 1
        self.metrics.running.inc()
        entry.status = "running"
        asked = entry.request or StartRequest(entry.url, entry.tier, entry.ipc)
        env = None if asked.fault is None else {**os.environ, FAULT_ENV: asked.fault}
        runner = AuditRunner(
            entry.url,
            tier=entry.tier,
            mode=entry.mode,
            timeout=asked.timeout or self.settings.audit_timeout,
            put_timeout=self.settings.put_timeout,
            audit_id=asked.audit_id or entry.audit_id,
            metrics=self.store,
            engine=self.settings.engine,
            env=env,
            request_timeout=asked.request_timeout,
        )
        try:
            outcome = await runner.run(send)
        except asyncio.CancelledError:
            self._finish(entry, runner.outcome, "cancelled", "the client went away")
            raise
        except Exception as exc:
            log.exception("audit %s: the runner failed", entry.audit_id)
            self._finish(entry, None, "error", f"the backend failed: {type(exc).__name__}: {exc}")
            raise
        finally:
            self.running -= 1
            self.metrics.running.dec()
            self._slots.release()
        self._finish(entry, outcome, STATUS_OF_STATE.get(outcome.state, "error"), None)
        return outcome

    def _finish(
        self, entry: AuditEntry, outcome: AuditOutcome | None, status: str, error: str | None
    ) -> None:
        entry.outcome = outcome
        entry.status = status
        entry.error = error
        entry.finished_at = time.time()
        if outcome is not None:
            self.metrics.observe(outcome)
        self.history.record(entry.to_json())
        log.info("audit %s %s", entry.audit_id, status)
        finished = [a for a in self._audits.values() if a.finished]
        for old in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._audits[old.audit_id]
