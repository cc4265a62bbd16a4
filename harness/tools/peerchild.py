"""Child of the peer transports in ``harness bench ipc --peers`` (internal).

    python -m harness.tools.peerchild KIND SYNTHETIC_URL     (reads {"endpoint": …} on stdin)

KIND is ``floor`` (a raw Unix socket, length-prefixed pickled batches, no acknowledgements),
``zmq`` (pyzmq PUSH, one message per event) or ``zmq_batched`` (PUSH, one message per batch).
``multiprocessing.Queue`` starts its child through ``multiprocessing`` instead
(``mp_queue_main``). Every kind emits the same synthetic stream through the same
``ProgressEvent`` as the audit child; a batch is whatever accumulated while the previous one
was being sent (a feeder thread, as ``multiprocessing.Queue`` has), so a paced stream goes
out event by event and a fast one in large batches. None of these keeps an accepted event
safe from an abrupt kill, nor applies backpressure: they are the reference, not the product.
"""

from __future__ import annotations

import json
import pickle
import socket
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

from veritas.engine.synthetic import run_synthetic
from veritas.protocol.event import ProgressEvent

KINDS = ("floor", "zmq", "zmq_batched")
HEADER = struct.Struct("!I")


class Feeder:
    """Batches rows on a thread: ``put`` appends, the thread sends what accumulated."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._rows: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def put(self, row: tuple[Any, ...]) -> None:
        with self._cond:
            self._rows.append(row)
            if len(self._rows) == 1:
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._rows and not self._closed:
                    self._cond.wait()
                rows, self._rows = self._rows, []
            if not rows:
                return  # closed and drained
            self._send(pickle.dumps(rows, protocol=5))


class Emitter:
    """The synthetic stream's ``emit``: stamps each event and hands its row on."""

    def __init__(self, put: Callable[[tuple[Any, ...]], None]) -> None:
        self._put = put
        self.seq = 0

    def emit(
        self,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> ProgressEvent:
        event = ProgressEvent.stamped(
            "bench", self.seq, type, phase,
            step=step, pct=pct, detail=detail, summary=summary, data=data,
        )  # fmt: skip
        self._put(event.as_tuple())
        self.seq += 1
        return event


def _floor(url: str, endpoint: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(endpoint)

    def send(batch: bytes) -> None:
        sock.sendall(HEADER.pack(len(batch)))
        sock.sendall(batch)

    feeder = Feeder(send)
    run_synthetic(url, Emitter(feeder.put).emit)
    feeder.close()
    sock.close()  # EOF is the end of the stream


def _zmq(url: str, endpoint: str, batched: bool) -> None:
    import zmq

    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, -1)  # close waits until every message is sent
    push.connect(endpoint)
    if batched:
        feeder = Feeder(push.send)
        run_synthetic(url, Emitter(feeder.put).emit)
        feeder.close()
    else:
        run_synthetic(url, Emitter(lambda row: push.send(pickle.dumps(row, protocol=5))).emit)
    push.send(b"")  # the end of the stream
    push.close()
    ctx.term()


def mp_queue_main(url: str, queue: Any) -> None:
    """The ``multiprocessing.Queue`` peer's child: one ``put`` per event, ``None`` at the end."""
    run_synthetic(url, Emitter(queue.put).emit)
    queue.put(None)
    queue.close()
    queue.join_thread()


def main() -> int:
    kind, url = sys.argv[1], sys.argv[2]
    if kind not in KINDS:
        sys.stderr.write(f"peerchild: kind {kind!r} unknown; accepted: {', '.join(KINDS)}\n")
        return 2
    endpoint = json.loads(sys.stdin.readline())["endpoint"]
    if kind == "floor":
        _floor(url, endpoint)
    else:
        _zmq(url, endpoint, batched=kind == "zmq_batched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
