"""The parent's Queue end: its frames are ``multiprocessing.connection``'s, byte for byte, and
reading on the event loop (POSIX) or in a thread (Windows) delivers the same audit."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from multiprocessing.connection import Connection

import pytest

import veritas.runner
from veritas.events import ProgressEvent
from veritas.queueserver import QueueServer, frame, read_frame
from veritas.runner import AuditRunner

posix_only = pytest.mark.skipif(os.name != "posix", reason="the loop reads sockets on POSIX")
SIZES = [0, 1, 5, 16_384, 16_385, 3 << 20]


@posix_only
def test_frames_written_by_send_bytes_are_read_by_read_frame() -> None:
    ours, theirs = socket.socketpair()
    conn = Connection(theirs.detach())

    async def main() -> list[bytes]:
        reader, writer = await asyncio.open_connection(sock=ours)

        def send_all() -> None:
            for i, n in enumerate(SIZES):
                conn.send_bytes(bytes([i % 251]) * n)

        sending = asyncio.create_task(asyncio.to_thread(send_all))
        got = [await read_frame(reader) for _ in SIZES]
        await sending
        writer.close()
        return got

    got = asyncio.run(main())
    conn.close()
    assert got == [bytes([i % 251]) * n for i, n in enumerate(SIZES)]


@posix_only
def test_frames_written_by_frame_are_read_by_recv_bytes() -> None:
    ours, theirs = socket.socketpair()
    conn = Connection(theirs.detach())

    def send_all() -> None:
        for i, n in enumerate(SIZES):
            ours.sendall(frame(bytes([i]) * n))

    sender = threading.Thread(target=send_all)
    sender.start()
    got = [conn.recv_bytes() for _ in SIZES]
    sender.join()
    ours.close()
    conn.close()
    assert got == [bytes([i]) * n for i, n in enumerate(SIZES)]


@pytest.mark.parametrize("on_loop", [True, False], ids=["loop-reads", "thread-reads"])
def test_both_ways_of_reading_deliver_the_same_audit(
    on_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if on_loop and os.name != "posix":
        pytest.skip("the loop reads sockets on POSIX")
    made: list[QueueServer] = []

    def server(*args: object, **kwargs: object) -> QueueServer:
        s = QueueServer(*args, on_loop=on_loop, **kwargs)  # type: ignore[arg-type]
        made.append(s)
        return s

    monkeypatch.setattr(veritas.runner, "QueueServer", server)
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)

    url = "synthetic:?events=300&png=3&unicode=1"
    outcome = asyncio.run(AuditRunner(url, mode="queue", maxsize=7, audit_id="s").run(send))
    assert [s.on_loop for s in made] == [on_loop]
    assert (made[0]._read_task is not None) is on_loop  # who really read the batches
    assert outcome.state == "completed" and outcome.ipc_faults == []
    assert outcome.attested_transport == "queue"
    assert outcome.events_by_transport == {"queue": 300, "stdout": 0}
    assert [e.seq for e in events] == list(range(300))


def test_the_loop_reads_by_default_on_posix_only() -> None:
    server = QueueServer()
    try:
        assert server.on_loop is (os.name == "posix")
    finally:
        server.close()
