"""One WebSocket client's audit: ``WS /api/audit/stream/{audit_id}``.

The audit starts when its client connects. Every event goes out as one text frame, in ``seq``
order, as the runner delivers it: the frame is written before the runner acknowledges the
event to the child, so a slow client slows the child down (it waits; it never fails over)
and nothing piles up in this process. Then the ``ipc_outcome`` frame, then close 1000.

The client going away cancels the audit: a task watches the socket for the close, and a
frame that cannot be written means the same. Close codes: 1000 done; 4404 no such audit;
4409 the audit already has (or had) its client; 1011 the backend failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from veritas.protocol.event import ProgressEvent
from veritas.server.frames import dumps_text, event_frame, outcome_frame
from veritas.server.registry import AuditEntry, AuditRegistry, AuditTaken, UnknownAudit

log = logging.getLogger("veritas.server")

CLOSE_DONE = 1000
CLOSE_SERVER_ERROR = 1011
CLOSE_UNKNOWN = 4404
CLOSE_TAKEN = 4409


async def stream_audit(websocket: WebSocket, registry: AuditRegistry, audit_id: str) -> None:
    await websocket.accept()
    try:
        entry = registry.claim(audit_id)
    except UnknownAudit as exc:
        await websocket.close(CLOSE_UNKNOWN, reason=_reason(str(exc)))
        return
    except AuditTaken as exc:
        await websocket.close(CLOSE_TAKEN, reason=_reason(str(exc)))
        return
    await _run(websocket, registry, entry)


async def _run(websocket: WebSocket, registry: AuditRegistry, entry: AuditEntry) -> None:
    async def send(event: ProgressEvent) -> None:
        try:
            await websocket.send_text(event_frame(event))
        except (WebSocketDisconnect, RuntimeError, OSError):
            # The client is gone: the same as a close seen by the watcher.
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)

    audit = asyncio.create_task(registry.run(entry, send), name=f"audit-{entry.audit_id}")
    watcher = asyncio.create_task(_watch_close(websocket, audit))
    try:
        outcome = await audit
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            audit.cancel()  # the server is stopping: the audit goes with it
            raise
        log.info("audit %s: cancelled, its client went away", entry.audit_id)
        return
    except Exception as exc:
        with contextlib.suppress(Exception):
            await websocket.send_text(
                dumps_text({"type": "server_error", "detail": f"{type(exc).__name__}: {exc}"})
            )
            await websocket.close(CLOSE_SERVER_ERROR, reason="the backend failed")
        return
    finally:
        watcher.cancel()
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.send_text(outcome_frame(outcome))
        if websocket.application_state != WebSocketState.DISCONNECTED:
            await websocket.close(CLOSE_DONE)


async def _watch_close(websocket: WebSocket, audit: asyncio.Task[object]) -> None:
    """Cancel *audit* when the client closes the socket (whatever it sends is ignored)."""
    with contextlib.suppress(RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    audit.cancel()


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    raw = text.encode("utf-8", "replace")[:123]
    return raw.decode("utf-8", "ignore")
