"""The parent's end of the peer transports in ``harness bench ipc --peers``.

Each peer moves the same synthetic stream as our transports and hands every event, as a
``ProgressEvent``, to the same consumer (``benchclock.Clock``) on the event loop:

* ``floor``: a raw Unix socket, length-prefixed pickled batches, no acknowledgements — what
  any Python transport pays to move the events at all. Read on the loop by a protocol.
* ``mp_queue``: ``multiprocessing.Queue``, its child started by ``multiprocessing`` (spawn).
* ``zmq`` / ``zmq_batched``: pyzmq PUSH/PULL over ``ipc://``, one message per event or per
  batch. pyzmq is optional (the ``bench`` extra); without it these two are left out and the
  table says so.

The readers that block (``multiprocessing.Queue``, pyzmq) run in a thread that hands the
loop everything it has read at once, as our Queue server's protocol does.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import os
import pickle
import queue
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.tools.benchclock import Clock, Sample
from harness.tools.peerchild import HEADER, mp_queue_main
from veritas.protocol.event import ProgressEvent

ROOT = Path(__file__).resolve().parents[2]
PEERS = ("floor", "mp_queue", "zmq", "zmq_batched")
ZMQ_PEERS = ("zmq", "zmq_batched")


def zmq_available() -> bool:
    """Is pyzmq importable here (``pip install veritas-ipc[bench]``)?"""
    try:
        return importlib.util.find_spec("zmq") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return False


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _start_child(kind: str, url: str, endpoint: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "harness.tools.peerchild", kind, url],
        stdin=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"endpoint": endpoint}).encode() + b"\n")
    proc.stdin.close()
    return proc


async def _deliver(inbox: asyncio.Queue[list[ProgressEvent] | None], clock: Clock) -> None:
    while (events := await inbox.get()) is not None:
        for event in events:
            await clock.send(event)


class _FloorProtocol(asyncio.Protocol):
    """Length-prefixed pickled batches, cut from the byte stream as they complete."""

    def __init__(self, inbox: asyncio.Queue[list[ProgressEvent] | None]) -> None:
        self._inbox = inbox
        self._pending = bytearray()

    def data_received(self, data: bytes) -> None:
        self._pending += data
        view = memoryview(self._pending)
        pos, events = 0, []
        while len(view) - pos >= HEADER.size:
            (size,) = HEADER.unpack_from(view, pos)
            if len(view) - pos - HEADER.size < size:
                break
            start = pos + HEADER.size
            events += [ProgressEvent(*row) for row in pickle.loads(view[start : start + size])]
            pos = start + size
        view.release()
        del self._pending[:pos]
        if events:
            self._inbox.put_nowait(events)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inbox.put_nowait(None)


async def _run_floor(url: str) -> Sample:
    clock = Clock()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[list[ProgressEvent] | None] = asyncio.Queue()
    with tempfile.TemporaryDirectory(prefix="veritas-floor-") as tmp:
        path = os.path.join(tmp, "floor.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.setblocking(False)
        proc = _start_child("floor", url, path)
        conn, _ = await loop.sock_accept(listener)
        listener.close()
        transport, _ = await loop.connect_accepted_socket(lambda: _FloorProtocol(inbox), conn)
        await _deliver(inbox, clock)
        transport.close()
        await asyncio.to_thread(proc.wait)
    return clock.sample("floor")


def _thread_reader(
    loop: asyncio.AbstractEventLoop,
    inbox: asyncio.Queue[list[ProgressEvent] | None],
    get: Callable[[], Any],
    get_more: Callable[[], Any],
    decode: Callable[[Any], list[ProgressEvent] | None],
) -> threading.Thread:
    """A thread that reads with *get* (blocking), then *get_more* until it raises
    ``queue.Empty``, and posts what it read to the loop at once; *decode* returns None at
    the end of the stream."""

    def run() -> None:
        done = False
        while not done:
            events: list[ProgressEvent] = []
            item = get()
            while True:
                decoded = decode(item)
                if decoded is None:
                    done = True
                    break
                events += decoded
                try:
                    item = get_more()
                except queue.Empty:
                    break
            if events:
                loop.call_soon_threadsafe(inbox.put_nowait, events)
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def _run_mp_queue(url: str) -> Sample:
    clock = Clock()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[list[ProgressEvent] | None] = asyncio.Queue()
    ctx = multiprocessing.get_context("spawn")
    mpq: Any = ctx.Queue()
    proc = ctx.Process(target=mp_queue_main, args=(url, mpq), daemon=True)
    proc.start()

    def decode(row: Any) -> list[ProgressEvent] | None:
        return None if row is None else [ProgressEvent(*row)]

    reader = _thread_reader(loop, inbox, mpq.get, mpq.get_nowait, decode)
    await _deliver(inbox, clock)
    await asyncio.to_thread(reader.join)
    await asyncio.to_thread(proc.join)
    mpq.close()
    return clock.sample("mp_queue")


async def _run_zmq(url: str, batched: bool) -> Sample:
    import zmq

    kind = "zmq_batched" if batched else "zmq"
    clock = Clock()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[list[ProgressEvent] | None] = asyncio.Queue()
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    with tempfile.TemporaryDirectory(prefix="veritas-zmq-") as tmp:
        endpoint = f"ipc://{tmp}/zmq.sock"
        pull.bind(endpoint)
        proc = _start_child(kind, url, endpoint)

        def get_more() -> bytes:
            try:
                return pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                raise queue.Empty from None

        def decode(message: bytes) -> list[ProgressEvent] | None:
            if not message:
                return None
            rows = pickle.loads(message)
            return [ProgressEvent(*row) for row in rows] if batched else [ProgressEvent(*rows)]

        reader = _thread_reader(loop, inbox, pull.recv, get_more, decode)
        await _deliver(inbox, clock)
        await asyncio.to_thread(reader.join)
        await asyncio.to_thread(proc.wait)
        pull.close()
        with contextlib.suppress(Exception):
            ctx.term()
    return clock.sample(kind)


async def run_peer(kind: str, url: str) -> Sample:
    """One run of peer *kind* over the synthetic stream *url*."""
    if kind == "floor":
        return await _run_floor(url)
    if kind == "mp_queue":
        return await _run_mp_queue(url)
    if kind in ZMQ_PEERS:
        return await _run_zmq(url, batched=kind == "zmq_batched")
    raise ValueError(f"peer {kind!r} unknown; accepted: {', '.join(PEERS)}")
