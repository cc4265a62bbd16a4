"""``--through ws``: a case's runs go through a real backend (``veritas serve``) and a
WebSocket client, and what is compared is what the client received.

One backend per pytest process (each xdist worker; the only process without xdist), started
on first use and stopped at session end: uvicorn in a thread, on 127.0.0.1 and a free port,
with ``allow_file_urls`` (the corpus is served from file and loopback URLs, and the test-only
start fields need it), its own metrics and history stores, and the run's engine. A run is
``POST /api/audit/start`` then the WebSocket: its event frames become ``ProgressEvent``\\ s
again and its ``ipc_outcome`` frame the outcome (``veritas.server.frames``), which attests the
transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn
import websockets

from veritas.protocol.event import ProgressEvent
from veritas.server.app import create_app
from veritas.server.frames import ReceivedOutcome, decode_frame, received_outcome
from veritas.server.serve import uvicorn_config
from veritas.server.settings import ServerSettings

START_SECONDS = 20.0


class BackendError(RuntimeError):
    pass


class Backend:
    """A backend on loopback, in a thread of this process."""

    def __init__(self, state_dir: Path, *, engine: str, max_concurrent: int) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.state_dir = state_dir
        self.settings = ServerSettings(
            host="127.0.0.1",
            port=0,
            max_concurrent=max_concurrent,
            allow_file_urls=True,
            metrics_path=state_dir / "metrics.sqlite3",
            engine=engine,
        )
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn_config(self.settings, create_app(self.settings), log_level="warning")
        config.access_log = False
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="veritas-backend",
            daemon=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<Backend {self.base}>"

    def start(self) -> Backend:
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise BackendError(
                    f"the backend on {self.base} did not start within {START_SECONDS:g} s"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(30)
        self._sock.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def start_audit(self, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base + "/api/audit/start",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise BackendError(
                f"POST /api/audit/start {body!r}: {exc.code} {exc.read()[:300]!r}"
            ) from None
        return answer

    async def run(
        self, body: dict[str, Any], timeout: float
    ) -> tuple[ReceivedOutcome, list[ProgressEvent]]:
        """Start an audit and read its frames: its events and the outcome it was sent."""
        answer = await asyncio.to_thread(self.start_audit, body)
        events: list[ProgressEvent] = []
        outcome: dict[str, Any] | None = None
        async with asyncio.timeout(timeout):
            async with websockets.connect(answer["ws_url"], max_size=None) as ws:
                with contextlib.suppress(websockets.ConnectionClosedError):  # code != 1000
                    async for message in ws:
                        text = message if isinstance(message, str) else message.decode()
                        frame = decode_frame(text)
                        if isinstance(frame, ProgressEvent):
                            events.append(frame)
                        elif frame["type"] == "ipc_outcome":
                            outcome = frame
                        else:
                            raise BackendError(f"audit {answer['audit_id']}: {frame!r}")
            code, reason = ws.close_code, ws.close_reason
        if outcome is None:
            raise BackendError(
                f"audit {answer['audit_id']} ({body.get('ipc')}): the WebSocket closed "
                f"({code} {reason!r}) after {len(events)} event frames and no ipc_outcome frame"
            )
        return received_outcome(outcome, events), events
