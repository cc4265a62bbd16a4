"""The child's end of the Queue (runs in the child; standard library only).

``put`` never drops: it waits while ``maxsize`` events, or ``max_bytes`` of payload, are in
flight (accepted but not yet acknowledged by the parent), until ``put_timeout`` seconds have
passed without a word from the parent. A parent whose consumer is slow (a web client reading
slowly) sends acknowledgements of zero events to say it is alive, so it is waited for as long
as it lives; a parent that hangs says nothing and the child fails over.
The parent acknowledges in ``seq`` order, so the sizes of the events in flight are a FIFO.

Two ways out, chosen per event, one at a time (``_busy``), so order is kept:

* **Direct**: a small event put after a pause (every earlier event acknowledged, so the
  parent is reading and the send cannot block; the previous put at least ``DIRECT_GAP`` ago)
  is sent by the putting thread itself. A slow producer — the usual audit, a few events a
  second — then pays no thread hand-off, which is what keeps the Queue's latency low.
* **Feeder**: otherwise the event is buffered and a feeder thread sends everything buffered
  as one batch, the way ``multiprocessing.Queue``'s feeder does, so a busy producer pays one
  round of framing per batch rather than per event.

The connection's descriptor is closed only once no thread can use it any more: a thread that
read ``_handle`` just before another closed it would otherwise read or write whatever file
the process opens next under the same number (a module being imported, a page being
written). So a hang-up only shuts down the sending side (a send in progress fails; the
parent reads everything sent, sees the end and hangs up, which ends the ack thread), and the
descriptor is closed after both threads are done. Shutting down the receiving side too would
make the parent's next acknowledgement fail, and asyncio then drops what it had not yet read.

Locking: ``_cond`` guards ``_buffer``, ``_sending``, ``_busy``, ``_in_flight``, ``_sizes``,
``_in_flight_bytes``, ``_failure`` and ``_closing``. Only the holder of ``_busy`` sends; the
ack thread is the only one that receives.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import sys
import threading
import time
from multiprocessing.connection import Client, Connection
from typing import Any

from veritas.child.faults import FaultInjector
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import END, MAX_BYTES, decode_ack, encode_batch, shut_down

#: A put this long after the previous one, with nothing buffered, is sent directly.
DIRECT_GAP = 0.0005
#: How long the parent gets to hang up after the end before the ack thread is woken anyway.
HANG_UP_GRACE = 1.0
#: Larger events always go through the feeder (the producer must not block on a big send).
DIRECT_MAX_BYTES = 64 * 1024


class QueueFailure(Exception):
    """The Queue cannot take more events; the emitter fails over to stdout."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueueSender:
    def __init__(
        self,
        address: Any,
        authkey: bytes,
        *,
        maxsize: int = 1000,
        max_bytes: int = MAX_BYTES,
        put_timeout: float = 10.0,
        sever_after: int | None = None,
        injector: FaultInjector | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"QueueSender maxsize {maxsize} must be >= 1")
        if max_bytes < 1:
            raise ValueError(f"QueueSender max_bytes {max_bytes} must be >= 1")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.put_timeout = put_timeout
        self._sever_after = sever_after  # test-only (veritas.child.faults): cut after this many
        self._injector = injector  # test-only (veritas.child.faults): corrupts what is sent
        self._sent = 0
        try:
            self._conn: Connection = Client(address, authkey=authkey)
        except Exception as exc:
            raise QueueFailure(f"connect: {type(exc).__name__}: {exc}") from None
        self._cond = threading.Condition()
        self._buffer: collections.deque[ProgressEvent] = collections.deque()
        self._sending: list[ProgressEvent] = []
        self._busy = False  # a thread (feeder or a direct put) is sending _sending
        self._last_put = 0.0
        self.sends = {"direct": 0, "feeder": 0}  # messages sent each way (for tests and benches)
        self._in_flight = 0  # buffered + being sent + sent and not yet acknowledged
        self._sizes: collections.deque[int] = collections.deque()  # their payload sizes
        self._in_flight_bytes = 0
        self._failure: str | None = None
        self._closing = False
        self._heard = 0.0  # monotonic time of the parent's latest acknowledgement
        self._feeder = threading.Thread(target=self._feed, name="veritas-queue-feeder", daemon=True)
        self._acks = threading.Thread(
            target=self._read_acks, name="veritas-queue-acks", daemon=True
        )
        self._feeder.start()
        self._acks.start()

    def __repr__(self) -> str:
        state = self._failure or ("closing" if self._closing else "open")
        return (
            f"<QueueSender {state} in_flight={self._in_flight}/{self.maxsize} "
            f"bytes={self._in_flight_bytes}/{self.max_bytes}>"
        )

    @property
    def in_flight(self) -> int:
        """Events accepted and not yet acknowledged by the parent."""
        with self._cond:
            return self._in_flight

    def put(self, event: ProgressEvent) -> None:
        """Queue *event*; wait under backpressure; raise QueueFailure instead of dropping."""
        deadline = time.monotonic() + self.put_timeout
        size = len(event.data or b"")
        with self._cond:
            while self._failure is None and self._full(size):
                left = self._patience(deadline)
                if left <= 0:
                    self._failure = (
                        f"put timed out after {self.put_timeout:g}s with "
                        f"{self._in_flight} events ({self._in_flight_bytes} payload bytes) in "
                        f"flight (maxsize {self.maxsize}, max_bytes {self.max_bytes})"
                    )
                    break
                self._cond.wait(left)
            if self._failure is not None:
                raise QueueFailure(self._failure)
            now = time.monotonic()
            direct = (
                self._in_flight == 0  # all acknowledged: the parent reads, a send cannot block
                and not self._busy
                and not self._buffer
                and now - self._last_put >= DIRECT_GAP
                and size <= DIRECT_MAX_BYTES
            )
            self._in_flight += 1
            self._sizes.append(size)
            self._in_flight_bytes += size
            self._last_put = now
            if direct:
                self._busy = True
                self._sending = [event]
            else:
                self._buffer.append(event)
                self._cond.notify_all()
        if direct:
            self.sends["direct"] += 1
            self._transmit()  # a failure is recorded; the next put or close raises it

    def _patience(self, deadline: float) -> float:
        """Seconds left to wait: until *deadline* or ``put_timeout`` after the parent was last
        heard from, whichever is later. (The caller holds ``_cond``.)"""
        return max(deadline, self._heard + self.put_timeout) - time.monotonic()

    def _full(self, size: int) -> bool:
        """Must a put of *size* payload bytes wait? (The caller holds ``_cond``.)"""
        if self._in_flight >= self.maxsize:
            return True
        return self._in_flight > 0 and self._in_flight_bytes + size > self.max_bytes

    def close(self) -> None:
        """Send everything, the end sentinel, and wait for the parent to acknowledge it all."""
        deadline = time.monotonic() + self.put_timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._failure is None and self._in_flight > 0:
                left = self._patience(deadline)
                if left <= 0:
                    self._failure = f"close timed out with {self._in_flight} events unacknowledged"
                    break
                self._cond.wait(left)
            if self._failure is not None:
                raise QueueFailure(self._failure)
        self._feeder.join(self.put_timeout)
        self._release()

    def abandon(self) -> list[ProgressEvent]:
        """Stop using the Queue; return the accepted events it did not send, in order.

        Events already sent stay with the parent, which still reads them; only what never
        left this process is handed back for the stdout channel.
        """
        with self._cond:
            if self._failure is None:
                self._failure = "abandoned"
            self._cond.notify_all()
        self._feeder.join(self.put_timeout)
        with self._cond:
            if not self._cond.wait_for(lambda: not self._busy, self.put_timeout):
                self._shut_down()  # a send stuck on a parent that stopped reading fails now
                self._cond.wait_for(lambda: not self._busy, self.put_timeout)
            unsent = [*self._sending, *self._buffer]
            self._sending = []
            self._buffer.clear()
        self._release()
        return unsent

    def _shut_down(self, how: int = socket.SHUT_WR) -> None:
        """Hang up without closing the descriptor."""
        if sys.platform == "win32":  # a named pipe: no shutdown; closing is what wakes a reader
            with contextlib.suppress(OSError):
                self._conn.close()
            return
        shut_down(self._conn, how)

    def _release(self) -> None:
        """Close the connection once neither the ack thread nor a sender can touch it."""
        self._shut_down()
        self._acks.join(HANG_UP_GRACE)  # the parent hangs up once it has read to the end
        if self._acks.is_alive():
            self._shut_down(socket.SHUT_RDWR)
            self._acks.join(self.put_timeout)
        with contextlib.suppress(OSError):
            self._conn.close()

    def _feed(self) -> None:
        while True:
            with self._cond:
                while self._failure is None and (
                    self._busy or (not self._buffer and not self._closing)
                ):
                    self._cond.wait()
                if self._failure is not None:
                    return
                if not self._buffer:  # closing and drained
                    break
                self._sending = list(self._buffer)
                self._buffer.clear()
                self._busy = True
                self.sends["feeder"] += 1
            if not self._transmit():
                return  # _sending keeps the batch for abandon()
        try:
            self._conn.send_bytes(END)
        except Exception as exc:
            with self._cond:
                if self._failure is None:
                    self._failure = f"end of stream failed: {type(exc).__name__}: {exc}"
                self._cond.notify_all()

    def _transmit(self) -> bool:
        """Send ``_sending`` (the caller holds ``_busy``); False, recorded, if it failed."""
        try:
            self._send_batch()
        except Exception as exc:
            with self._cond:
                if self._failure is None:
                    self._failure = f"put failed: {type(exc).__name__}: {exc}"
                self._busy = False
                self._cond.notify_all()
            return False
        with self._cond:
            self._sending = []
            self._busy = False
            if self._buffer or self._closing:
                self._cond.notify_all()
        return True

    def _send_batch(self) -> None:
        batch = self._sending
        if self._sever_after is not None and self._sent + len(batch) > self._sever_after:
            keep = max(0, self._sever_after - self._sent)
            if keep:
                self._conn.send_bytes(encode_batch(batch[:keep]))
            with self._cond:
                self._sending = batch[keep:]
            self._sent += keep
            reason = f"put failed: fault injection: severed after {self._sent} events"
            with self._cond:
                self._failure = reason
            self._shut_down()
            raise ConnectionAbortedError(reason)
        if self._injector is not None:
            batch = self._injector.apply(batch)
        if batch:
            self._conn.send_bytes(encode_batch(batch))
        self._sent += len(self._sending)

    def _read_acks(self) -> None:
        try:
            while True:
                count = decode_ack(self._conn.recv_bytes())
                with self._cond:
                    self._heard = time.monotonic()
                    self._in_flight -= count
                    for _ in range(min(count, len(self._sizes))):
                        self._in_flight_bytes -= self._sizes.popleft()
                    self._cond.notify_all()
        except Exception as exc:
            with self._cond:
                if self._failure is None and self._in_flight > 0:
                    self._failure = f"queue closed by parent: {type(exc).__name__}: {exc}"
                self._cond.notify_all()
