"""The parent side: ``AuditRunner`` runs one audit in a child process; see docs/architecture.md.

``outcome = await AuditRunner(url, mode="queue").run(send)`` spawns the child, reads the
selected transport and always stdout and stderr (so no pipe can fill and deadlock the child),
merges the channels by ``seq`` and awaits ``send(event)`` for every event, exactly once and in
order. The outcome says which transport actually delivered the events.

Each runner owns its child, its pipes and its ``QueueServer``; nothing is shared between
runners, so many can run concurrently in one process and event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from veritas.child.engines import BUNDLED_ENGINE
from veritas.parent.merge import SeqMerger
from veritas.parent.metrics import MetricsStore
from veritas.parent.mode import Mode
from veritas.parent.outcome import AuditOutcome
from veritas.parent.queue_server import QueueServer
from veritas.proctree import kill_leftovers, kill_tree, new_group_kwargs
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import MAX_BYTES
from veritas.protocol.stdout_wire import (
    CONTROL_MARKER,
    MARKER,
    MalformedLine,
    decode_control,
    decode_line,
)

log = logging.getLogger("veritas.ipc")

Send = Callable[[ProgressEvent], Awaitable[None]]
_CHUNK = 1 << 18
_STDERR_TAIL = 40
STDERR_GRACE = 1.0  # seconds to wait for the end of stderr after the child has exited
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
#: Bytes of stdout event lines read but not yet delivered at which reading stops, so that a slow
#: consumer makes the child wait (its pipe fills) instead of growing this process's memory.
STDOUT_BACKLOG = 4 << 20
#: Acknowledge delivered events once a quarter of the window (``maxsize`` events or the Queue's
#: ``max_bytes`` of payload) waits for it, and whenever the inbox is empty with payload bytes
#: unacknowledged (the child may be waiting for exactly those); small events alone are left to
#: accumulate. Every acknowledgement wakes a thread of the child, and one per read of the
#: socket used to cost the child more than the events did. No deadlock: a child that waits
#: for credit has a full window in flight, and delivering a quarter of it is acknowledged.
ACK_SHARE = 4


def child_pythonpath(env: Mapping[str, str]) -> str:
    """The child's ``PYTHONPATH``: this veritas first, then *env*'s own (where another
    engine may live)."""
    return os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)


async def exit_of(proc: asyncio.subprocess.Process) -> int:
    """The child's exit status as soon as it has exited. ``proc.wait()`` also waits for its
    pipes to close, which a process that inherited them (the child's leftovers) can delay
    for as long as it lives."""
    while proc.returncode is None:
        await asyncio.sleep(0.02)
    return proc.returncode


class AuditRunner:
    def __init__(
        self,
        url: str,
        *,
        tier: str = "quick_scan",
        mode: Mode = "queue",
        timeout: float = 300.0,
        maxsize: int = 1000,
        put_timeout: float = 10.0,
        audit_id: str | None = None,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        metrics: MetricsStore | None = None,
        request_timeout: float | None = None,
        engine: str = BUNDLED_ENGINE,
    ) -> None:
        if mode not in ("queue", "stdout"):
            raise ValueError(f"AuditRunner mode {mode!r} unknown; accepted: queue, stdout")
        if timeout <= 0:
            raise ValueError(f"AuditRunner timeout {timeout!r} must be > 0 seconds")
        self.url = url
        self.tier = tier
        self.mode: Mode = mode
        self.timeout = timeout
        self.maxsize = maxsize
        self.put_timeout = put_timeout
        self.audit_id = audit_id or uuid.uuid4().hex[:12]
        self.env = dict(os.environ if env is None else env)
        self.python = python
        self.metrics = metrics
        self.request_timeout = request_timeout
        #: ``package.module:function``; checked beforehand (``veritas.parent.engine``).
        self.engine = engine

    def __repr__(self) -> str:
        return f"<AuditRunner {self.audit_id} {self.mode} {self.url!r}>"

    async def run(self, send: Send) -> AuditOutcome:
        """Run the audit; its outcome. Cancelling the call kills the child's tree, records the
        outcome as ``cancelled`` (metrics store included) and re-raises; the outcome is then
        ``self.outcome``, which always holds the latest run's."""
        run = _Run(self, send)
        self.outcome: AuditOutcome = run.outcome
        return await run.execute()


class _Run:
    """The state of one ``AuditRunner.run`` call."""

    def __init__(self, runner: AuditRunner, send: Send) -> None:
        self.r = runner
        self.send = send
        self.outcome = AuditOutcome(
            audit_id=runner.audit_id,
            url=runner.url,
            tier=runner.tier,
            mode_requested=runner.mode,
        )
        self.merger = SeqMerger(runner.audit_id)
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.server: QueueServer | None = None
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL)
        self.unacked = 0
        self.unacked_bytes = 0
        self.ack_events = max(1, runner.maxsize // ACK_SHARE)
        self.ack_bytes = max(1, MAX_BYTES // ACK_SHARE)
        self.last_type: str | None = None
        self.never_connected = False
        self.stdout_backlog = 0  # bytes of event lines in the inbox, not yet delivered
        self.stdout_sizes: deque[int] = deque()  # the bytes of each stdout batch in the inbox
        self.stdout_room = asyncio.Event()

    async def execute(self) -> AuditOutcome:
        started = time.monotonic()
        out = self.outcome
        if self.r.mode == "queue":
            try:
                self.server = QueueServer(self.r.maxsize, self.r.put_timeout)
                self.ack_bytes = max(1, self.server.max_bytes // ACK_SHARE)
            except Exception as exc:
                out.fallback_reason = f"queue could not be created: {type(exc).__name__}: {exc}"
                log.error("audit %s: %s; using stdout", self.r.audit_id, out.fallback_reason)
        ipc = "queue" if self.server is not None else "stdout"
        log.info("audit %s: %s requested, child uses %s", self.r.audit_id, self.r.mode, ipc)
        argv = [
            self.r.python,
            "-P",  # not the working directory's packages: the child runs this veritas
            "-m",
            "veritas.child",
            self.r.url,
            "--tier",
            self.r.tier,
            "--audit-id",
            self.r.audit_id,
            "--ipc",
            ipc,
        ]
        if self.r.request_timeout is not None:
            argv += ["--request-timeout", str(self.r.request_timeout)]
        if self.r.engine != BUNDLED_ENGINE:
            argv += ["--engine", self.r.engine]
        env = dict(self.r.env)
        env["PYTHONPATH"] = child_pythonpath(env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # The child's temporary files (Chromium's profile among them) go in a directory this
        # process owns and removes, so a killed child leaves nothing behind.
        tmpdir = tempfile.mkdtemp(prefix="veritas-audit-")
        env["TMPDIR"] = env["TEMP"] = env["TMP"] = tmpdir
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                **new_group_kwargs(),
            )
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        try:
            await self._handshake(proc)
            async with asyncio.timeout(self.r.timeout):
                await self._pump(proc)
                out.exit_code = await exit_of(proc)
        except TimeoutError:
            out.state = "timeout"
            if proc.returncode is None:  # once reaped, its pid may be someone else's
                out.killed = await asyncio.to_thread(kill_tree, proc.pid)
            out.exit_code = await exit_of(proc)
            log.error(
                "audit %s: timed out after %gs; killed %d processes",
                self.r.audit_id,
                self.r.timeout,
                out.killed,
            )
        except asyncio.CancelledError:
            # The consumer went away (a web client that disconnected): the child's tree is
            # killed at once, the ending recorded like any other, then the cancellation goes on.
            out.state = "cancelled"
            if proc.returncode is None:
                out.killed = kill_tree(proc.pid)  # synchronous: a second cancel cannot skip it
            await self._clean_up(proc, tmpdir)
            self._finalise(started)
            if self.r.metrics is not None:
                self.r.metrics.record(out)
            raise
        except BaseException:
            if proc.returncode is None:
                kill_tree(proc.pid)  # synchronous: a second cancellation cannot skip it
            raise
        finally:
            if out.state != "cancelled":
                await self._clean_up(proc, tmpdir)
        for event, transport in self.merger.finish():
            await self._deliver(event, transport)
        self._finalise(started)
        if self.r.metrics is not None:
            await asyncio.to_thread(self.r.metrics.record, out)
        return out

    async def _clean_up(self, proc: asyncio.subprocess.Process, tmpdir: str) -> None:
        """After the child: the Queue server, processes it left behind, its pipes, its files.
        Each step runs even if an earlier one failed."""
        out = self.outcome
        try:
            if self.server is not None:
                await asyncio.to_thread(self.server.close)
        finally:
            try:
                out.leftovers_killed = await asyncio.to_thread(kill_leftovers, proc.pid)
                if out.leftovers_killed:
                    log.warning(
                        "audit %s: killed %d processes the child left behind",
                        self.r.audit_id,
                        out.leftovers_killed,
                    )
                try:  # the pipes close once nothing holds them any more
                    await asyncio.wait_for(proc.wait(), 5.0)
                except TimeoutError:
                    log.warning("audit %s: a pipe of the child is still held", self.r.audit_id)
            finally:
                shutil.rmtree(tmpdir, ignore_errors=True)

    async def _handshake(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        if self.server is not None:
            self.server.start(asyncio.get_running_loop(), self._on_batch, self._on_queue_end)
            try:
                proc.stdin.write(self.server.handshake())
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the child died at start; its exit code will say so
        proc.stdin.close()

    def _on_batch(self, events: list[ProgressEvent]) -> None:
        self.inbox.put_nowait(("queue", events))

    def _on_queue_end(self, error: str | None) -> None:
        self.inbox.put_nowait(("queue-end", error))

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        """Deliver events until stdout is closed and the Queue has ended (or never connected)."""
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(self._read_stdout(proc.stdout)),
            asyncio.create_task(self._read_stderr(proc.stderr)),
        ]
        stdout_open = True
        queue_open = self.server is not None
        if self.server is not None:
            readers.append(asyncio.create_task(self._keep_alive(self.server)))
        exited = asyncio.create_task(exit_of(proc))
        exited.add_done_callback(lambda _: self.inbox.put_nowait(("exited", None)))
        try:
            while stdout_open or queue_open:
                if queue_open and not stdout_open and exited.done() and self.inbox.empty():
                    # The child is gone. Client() returns only once accept() has done the
                    # handshake, so a child that connected is seen as connected promptly.
                    assert self.server is not None
                    connected = self.server.connected
                    if self.never_connected or not await asyncio.to_thread(connected.wait, 1.0):
                        break  # the child exited without ever connecting
                kind, payload = await self.inbox.get()
                if kind in ("stdout", "queue"):
                    for event in payload:
                        for ready, transport in self.merger.add(event, kind):
                            await self._deliver(ready, transport)
                    if kind == "stdout":
                        self.stdout_backlog -= self.stdout_sizes.popleft()
                        if self.stdout_backlog < STDOUT_BACKLOG:
                            self.stdout_room.set()
                elif kind == "stdout-end":
                    stdout_open = False
                elif kind == "queue-end":
                    queue_open = False
                    if payload is not None:
                        self.outcome.queue_error = payload
                    elif self.server is not None:
                        # Everything before the end has been through the merger: after a gap
                        # the child would otherwise wait put_timeout for acks that never come.
                        self._ack()
                        self.server.end_read()
                elif kind == "control":
                    self._on_control(payload)
                if self.unacked_bytes and self.inbox.empty():
                    self._ack()
            await readers[0]
            # stderr may be held open by a process the child left behind (it inherited fd 2);
            # it is killed after this, so wait for the end of stderr only briefly.
            await exited
            await asyncio.wait({readers[1]}, timeout=STDERR_GRACE)
        finally:
            for task in (*readers, exited):
                task.cancel()

    def _ack(self) -> None:
        """Give the child credit for every event delivered so far."""
        if self.unacked and self.server is not None:
            self.server.ack(self.unacked)
        self.unacked = self.unacked_bytes = 0

    async def _keep_alive(self, server: QueueServer) -> None:
        """While the Queue is open: a word to the child several times per ``put_timeout``, so
        a consumer that takes its time (a slow web client) is not mistaken for a hung parent."""
        while True:
            await asyncio.sleep(self.r.put_timeout / 4)
            if self.unacked:
                self._ack()
            else:
                server.keepalive()

    def _on_control(self, message: dict[str, Any]) -> None:
        if "failover" in message:
            self.merger.failed_over = True
            self.never_connected = message.get("connected") is False
            self.outcome.fallback_reason = str(message["failover"])
            log.warning(
                "audit %s: child failed over to stdout at seq %s: %s",
                self.r.audit_id,
                message.get("at_seq"),
                message["failover"],
            )

    async def _deliver(self, event: ProgressEvent, transport: str) -> None:
        out = self.outcome
        await self.send(event)
        out.latencies_ms.append((time.time() - event.timestamp) * 1000.0)
        out.events_by_transport[transport] += 1
        runs = out.transport_runs
        if runs and runs[-1][0] == transport:
            runs[-1][2] += 1
        else:
            runs.append([transport, event.seq, 1])
        if transport == "queue":
            self.unacked += 1
            if event.data:
                self.unacked_bytes += len(event.data)
            if self.unacked >= self.ack_events or self.unacked_bytes >= self.ack_bytes:
                self._ack()
        self.last_type = event.type
        if event.type == "audit_complete":
            out.final_state = event.summary
        elif event.type == "audit_error":
            out.error = event.detail

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        """Split stdout into lines with no length limit; decode marker lines into events."""
        pending = bytearray()
        try:
            while chunk := await stream.read(_CHUNK):
                pending += chunk
                if b"\n" not in chunk:
                    continue
                cut = pending.rindex(b"\n") + 1
                lines = bytes(pending[:cut]).split(b"\n")[:-1]
                del pending[:cut]
                self._take_lines(lines)
                while self.stdout_backlog >= STDOUT_BACKLOG:
                    self.stdout_room.clear()
                    await self.stdout_room.wait()
            if pending:
                self._take_lines([bytes(pending)])
        finally:
            self.inbox.put_nowait(("stdout-end", None))

    def _put_stdout(self, events: list[ProgressEvent], size: int) -> None:
        self.stdout_sizes.append(size)
        self.stdout_backlog += size
        self.inbox.put_nowait(("stdout", events))

    def _take_lines(self, lines: list[bytes]) -> None:
        events = []
        size = 0
        for line in lines:
            if line.startswith(MARKER):
                try:
                    events.append(decode_line(line))
                    size += len(line)
                except MalformedLine as exc:
                    self.outcome.malformed_lines += 1
                    log.warning(
                        "audit %s: malformed event line ignored (%d bytes): %s",
                        self.r.audit_id,
                        len(line),
                        exc,
                    )
            elif line.startswith(CONTROL_MARKER):
                if events:
                    self._put_stdout(events, size)
                    events, size = [], 0
                try:
                    self.inbox.put_nowait(("control", decode_control(line)))
                except MalformedLine as exc:
                    self.outcome.malformed_lines += 1
                    log.warning("audit %s: malformed control line: %s", self.r.audit_id, exc)
            elif line.strip():
                self.outcome.stray_stdout_lines += 1
        if events:
            self._put_stdout(events, size)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(_CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip("\r")
                self.stderr_tail.append(text[:2000])
                log.debug("audit %s child: %s", self.r.audit_id, text)
        if pending:
            self.stderr_tail.append(pending.decode("utf-8", "replace")[:2000])

    def _finalise(self, started: float) -> None:
        out = self.outcome
        out.duration_s = time.monotonic() - started
        out.stderr_tail = list(self.stderr_tail)
        out.ipc_faults = list(self.merger.faults)
        out.replayed = self.merger.replayed
        out.mode_used = (
            "queue"
            if (
                self.server is not None
                and out.fallback_reason is None
                and out.events_by_transport["stdout"] == 0
            )
            else "stdout"
        )
        out.fallback = self.r.mode == "queue" and out.mode_used != "queue"
        if out.fallback and out.fallback_reason is None:
            out.fallback_reason = out.queue_error or "events arrived over stdout"
        if out.state not in ("timeout", "cancelled"):
            if self.last_type == "audit_complete":
                out.state = "completed"
            elif self.last_type == "audit_error":
                out.state = "failed"
            else:
                out.state = "crashed"
        if out.ipc_faults:
            log.error("audit %s: IPC faults: %s", self.r.audit_id, "; ".join(out.ipc_faults))
