"""A real backend on loopback (uvicorn in a thread of the test process, real audit children)
and a real WebSocket client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
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
from veritas.server.serve import uvicorn_config
from veritas.server.settings import ServerSettings


class LiveServer:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn_config(settings, self.app, log_level="warning")
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


async def receive(
    url: str, *, delay: float = 0.0, slow_frames: int = 0, keep_data: bool = True
) -> Received:
    """Every frame of one audit; with *delay*, the first *slow_frames* are read that far apart.
    Without *keep_data*, a frame keeps only the length of its decoded ``data``."""
    got = Received()
    # A small receive buffer (no autotuning: loopback's can grow to tens of MB), so that a
    # slow reader is felt by the backend at once, as over a real network.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    host, port = url.split("/")[2].split(":")
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    async with websockets.connect(url, sock=sock, max_size=None, max_queue=1) as ws:
        with contextlib.suppress(websockets.ConnectionClosedError):  # a close code != 1000
            async for message in ws:
                if delay and len(got.events) < slow_frames:
                    await asyncio.sleep(delay)
                frame = json.loads(message)
                if not keep_data and frame.get("data") is not None:
                    frame["data"] = len(base64.b64decode(frame["data"]))
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


def read_slowly(url: str, *, delay: float, slow_frames: int) -> Received:
    """A client that reads nothing ahead: a plain blocking socket with a 64 KB receive
    buffer, one frame read, then *delay* seconds of nothing, for the first *slow_frames*
    frames, then as fast as it can. Keeps only the length of each frame's ``data``. (A
    WebSocket library reads ahead into memory of its own and hides the slowness.)"""
    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    got = Received()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        stream = sock.makefile("rb")
        status = stream.readline()
        assert b" 101 " in status, status
        while stream.readline() not in (b"\r\n", b""):
            pass
        while True:
            head = stream.read(2)
            assert len(head) == 2, "connection ended without a close frame"
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            assert head[0] & 0x80 and not head[1] & 0x80, "fragmented or masked frame"
            if length == 126:
                length = int.from_bytes(stream.read(2), "big")
            elif length == 127:
                length = int.from_bytes(stream.read(8), "big")
            payload = stream.read(length)
            if opcode == 0x8:
                got.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                got.close_reason = payload[2:].decode()
                break
            if opcode == 0x9:  # the server's keepalive ping: answer it (masked, as a client)
                mask = os.urandom(4)
                body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + body)
                continue
            if opcode == 0xA:
                continue
            assert opcode == 0x1, f"opcode {opcode}"
            frame = json.loads(payload)
            if frame["type"] == "ipc_outcome":
                got.outcome = frame
                continue
            if frame.get("data") is not None:
                frame["data"] = len(base64.b64decode(frame["data"]))
            got.events.append(frame)
            if len(got.events) <= slow_frames:
                time.sleep(delay)
    return got
