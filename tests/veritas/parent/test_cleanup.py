"""Timeouts and cleanup: whatever an audit child does, nothing of it outlives the audit.

Every process an audit starts carries a marker in its environment (children inherit it), so
a survivor is found wherever it went, re-parented or not. The audit's temporary directory is
recorded when the runner creates it and must be gone afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from veritas.parent.outcome import AuditOutcome
from veritas.parent.queue_server import QueueServer
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent

posix_only = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("VERITAS_TEST_MARK") == mark:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Audit:
    """One audit with a marked environment; records its temp dir and the most processes seen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
        self.mark = uuid.uuid4().hex
        self.env = {**os.environ, "VERITAS_TEST_MARK": self.mark, **env}
        self.tmpdirs: list[str] = []
        self.peak: list[str] = []
        real = tempfile.mkdtemp

        def recording_mkdtemp(*args: object, **kwargs: object) -> str:
            path = str(real(*args, **kwargs))  # type: ignore[call-overload]
            if Path(path).name.startswith("veritas-audit-"):  # not multiprocessing's own
                self.tmpdirs.append(path)
            return path

        monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)

    def run(self, url: str, **kw: object) -> tuple[AuditOutcome, float]:
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                names = []
                for p in marked(self.mark):
                    try:
                        names.append(p.name())
                    except psutil.Error:
                        continue
                if len(names) > len(self.peak):
                    self.peak = names

        async def send(event: ProgressEvent) -> None:
            pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            runner = AuditRunner(url, env=self.env, **kw)  # type: ignore[arg-type]
            outcome = asyncio.run(runner.run(send))
        finally:
            done.set()
            sampler.join()
        return outcome, time.monotonic() - started

    def assert_nothing_left(self) -> None:
        assert marked(self.mark) == [], "processes of the audit outlived it"
        assert self.tmpdirs, "the runner made no temporary directory"
        assert not any(Path(d).exists() for d in self.tmpdirs), "temporary directory left behind"


@posix_only
@pytest.mark.parametrize("mode", ["queue", "stdout"])
def test_a_child_ignoring_sigterm_is_killed_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    audit = Audit(monkeypatch)
    outcome, elapsed = audit.run(
        "synthetic:?events=50&hang_after=5&ignore_term=1&spawn=2", mode=mode, timeout=2.0
    )
    assert outcome.state == "timeout"
    assert elapsed < 2.0 + 5.0
    assert outcome.killed == 3  # the child and its two grandchildren
    assert sorted(audit.peak).count("python") + sorted(audit.peak).count("python3") >= 3
    audit.assert_nothing_left()


@posix_only
def test_grandchildren_left_behind_by_a_completed_child_are_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit = Audit(monkeypatch)
    # They hold the child's stderr: the audit must not wait for them to let go of it.
    outcome, elapsed = audit.run("synthetic:?events=40&spawn=3&rate=200", mode="queue", timeout=30)
    assert outcome.state == "completed" and outcome.attested_transport == "queue"
    assert elapsed < 10
    assert outcome.leftovers_killed == 3
    audit.assert_nothing_left()


def test_a_clean_audit_leaves_no_process_socket_or_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    addresses: list[object] = []
    real_start = QueueServer.start

    def recording_start(self: QueueServer, *a: object, **kw: object) -> None:
        addresses.append(self.address)
        real_start(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(QueueServer, "start", recording_start)
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    threads_before = threading.active_count()
    audit = Audit(monkeypatch)
    outcome, _ = audit.run("synthetic:?events=200&png=2", mode="queue")
    assert outcome.state == "completed" and outcome.leftovers_killed == 0
    audit.assert_nothing_left()
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= children_before
    assert len(addresses) == 1
    if isinstance(addresses[0], str) and os.name == "posix":
        assert not Path(addresses[0]).exists(), "the Queue's socket file was left behind"
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before, "a Queue server thread outlived the audit"


class _SlowImage(BaseHTTPRequestHandler):
    """A page whose image never arrives: Chromium is up and waiting when the timeout hits."""

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(30)
            return
        body = b'<!DOCTYPE html><html><body><h1>Slow</h1><img src="/slow.png"></body></html>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowImage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@posix_only
@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium installed")
def test_chromium_grandchildren_are_killed_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, slow_site: str
) -> None:
    audit = Audit(monkeypatch, VERITAS_RENDERER="chromium")
    outcome, elapsed = audit.run(slow_site, mode="queue", timeout=8.0, request_timeout=60)
    assert outcome.state == "timeout"
    assert elapsed < 8.0 + 5.0
    assert "chromium" in audit.peak, f"Chromium never started: {audit.peak}"
    assert outcome.killed >= 3
    audit.assert_nothing_left()
