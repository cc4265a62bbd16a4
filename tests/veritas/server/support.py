"""A real backend on loopback (uvicorn in a thread of the test process, real audit children)
and a real WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import websockets

from veritas.server.app import create_app
from veritas.server.settings import ServerSettings


class LiveServer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", ws="auto")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the backend did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, _body(resp.read(), resp.headers.get_content_type())
        except urllib.error.HTTPError as exc:
            return exc.code, _body(exc.read(), exc.headers.get_content_type())

    def start_audit(self, url: str, tier: str = "quick_scan", ipc: str | None = None) -> str:
        payload: dict[str, Any] = {"url": url, "tier": tier}
        if ipc is not None:
            payload["ipc"] = ipc
        status, answer = self.request("POST", "/api/audit/start", json.dumps(payload).encode())
        assert status == 200, answer
        assert answer["status"] == "queued"
        assert (
            answer["ws_url"] == f"ws://127.0.0.1:{self.port}/api/audit/stream/{answer['audit_id']}"
        )
        return str(answer["audit_id"])

    def ws_url(self, audit_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/api/audit/stream/{audit_id}"

    def wait_status(self, audit_id: str, *wanted: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, answer = self.request("GET", f"/api/audit/{audit_id}/status")
            assert status == 200, answer
            if answer["status"] in wanted or time.monotonic() > deadline:
                return dict(answer)
            time.sleep(0.05)


def _body(raw: bytes, content_type: str) -> Any:
    return json.loads(raw) if content_type == "application/json" else raw.decode()


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, Any] | None = None
    close_code: int | None = None
    close_reason: str = ""
    first_at: float | None = None
    last_at: float | None = None


async def receive(url: str, *, delay: float = 0.0, slow_frames: int = 0) -> Received:
    """Every frame of one audit; with *delay*, the first *slow_frames* are read that far apart."""
    got = Received()
    async with websockets.connect(url, max_size=None, max_queue=1) as ws:
        with contextlib.suppress(websockets.ConnectionClosedError):  # a close code != 1000
            async for message in ws:
                if delay and len(got.events) < slow_frames:
                    await asyncio.sleep(delay)
                frame = json.loads(message)
                if got.first_at is None:
                    got.first_at = time.monotonic()
                if frame["type"] == "ipc_outcome":
                    got.outcome = frame
                else:
                    got.events.append(frame)
        got.last_at = time.monotonic()
    got.close_code = ws.close_code
    got.close_reason = ws.close_reason or ""
    return got
