"""The parent's Queue end: reading on the event loop (POSIX) or in a thread (Windows) delivers
the same audit, and a broken stream ends it with a reason."""

from __future__ import annotations

import asyncio
import json
import os
from multiprocessing.connection import Client

import pytest

import veritas.parent.runner
from veritas.parent.queue_server import QueueServer
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import END, encode_batch

WAYS = pytest.mark.parametrize(
    "on_loop",
    [
        pytest.param(
            True,
            id="loop-reads",
            marks=pytest.mark.skipif(os.name != "posix", reason="the loop reads sockets on POSIX"),
        ),
        pytest.param(False, id="thread-reads"),
    ],
)


@WAYS
def test_both_ways_of_reading_deliver_the_same_audit(
    on_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[QueueServer] = []

    def server(*args: object, **kwargs: object) -> QueueServer:
        s = QueueServer(*args, on_loop=on_loop, **kwargs)  # type: ignore[arg-type]
        made.append(s)
        return s

    monkeypatch.setattr(veritas.parent.runner, "QueueServer", server)
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)

    url = "synthetic:?events=300&png=3&unicode=1"
    outcome = asyncio.run(AuditRunner(url, mode="queue", maxsize=7, audit_id="s").run(send))
    assert [s.on_loop for s in made] == [on_loop]
    assert (made[0]._protocol is not None) is on_loop  # who really read the batches
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


def _serve(on_loop: bool, messages: list[bytes]) -> tuple[list[int], list[str | None]]:
    """Send *messages* raw to a server as its child would, then hang up; what it reported."""
    seqs: list[int] = []
    ends: list[str | None] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = QueueServer(on_loop=on_loop)
        ended = asyncio.Event()

        def on_end(error: str | None) -> None:
            ends.append(error)
            ended.set()

        server.start(loop, lambda batch: seqs.extend(e.seq for e in batch), on_end)
        spec = json.loads(server.handshake())

        def child() -> None:
            with Client(spec["address"], authkey=bytes.fromhex(spec["authkey"])) as conn:
                for message in messages:
                    conn.send_bytes(message)

        await asyncio.to_thread(child)
        await asyncio.wait_for(ended.wait(), 10)
        await asyncio.sleep(0.05)  # anything reported after the end would show up here
        server.close()

    asyncio.run(main())
    return seqs, ends


BATCH_0_2 = encode_batch([ProgressEvent.stamped("s", i, "log", "scout") for i in range(3)])


@WAYS
def test_the_end_of_stream_ends_the_queue_cleanly(on_loop: bool) -> None:
    assert _serve(on_loop, [BATCH_0_2, END, BATCH_0_2]) == ([0, 1, 2], [None])


@WAYS
def test_a_child_that_hangs_up_without_the_end_is_reported(on_loop: bool) -> None:
    assert _serve(on_loop, [BATCH_0_2]) == ([0, 1, 2], ["queue closed without end of stream"])


@WAYS
def test_an_unknown_message_ends_the_queue_with_its_kind(on_loop: bool) -> None:
    assert _serve(on_loop, [BATCH_0_2, b"Zzz", BATCH_0_2]) == (
        [0, 1, 2],
        ["unknown message kind b'Z'"],
    )


@pytest.mark.parametrize("url", ["synthetic:?events=300&png=3&unicode=1", "synthetic:?events=40"])
def test_the_windows_paths_deliver_the_same_audit(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What runs on Windows, selected here: the thread reads, and both ends treat the
    connection as a named pipe (blocking writes in the child, close instead of shutdown)."""
    made: list[QueueServer] = []

    def server(*args: object, **kwargs: object) -> QueueServer:
        s = QueueServer(*args, on_loop=False, named_pipe=True, **kwargs)  # type: ignore[arg-type]
        made.append(s)
        return s

    monkeypatch.setattr(veritas.parent.runner, "QueueServer", server)
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)

    n = int(url.split("events=")[1].split("&")[0])
    outcome = asyncio.run(AuditRunner(url, mode="queue", maxsize=7, audit_id="w").run(send))
    assert made[0].named_pipe and not made[0].on_loop
    assert made[0]._protocol is None  # the thread read the batches
    assert outcome.state == "completed" and outcome.ipc_faults == []
    assert outcome.events_by_transport == {"queue": n, "stdout": 0}
    assert [e.seq for e in events] == list(range(n))


def test_the_handshake_tells_the_child_how_to_treat_the_connection() -> None:
    for named_pipe in (False, True):
        server = QueueServer(named_pipe=named_pipe)
        assert json.loads(server.handshake())["named_pipe"] is named_pipe
        server.close()
