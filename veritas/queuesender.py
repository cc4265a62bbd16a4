"""The child's end of the Queue (runs in the child; standard library only).

``put`` never drops: it waits while ``maxsize`` events are in flight (accepted but not yet
acknowledged by the parent), for at most ``put_timeout`` seconds. A feeder thread drains the
local buffer and sends everything it holds as one batch, the way ``multiprocessing.Queue``'s
feeder thread does, so a busy producer pays one round of framing per batch rather than per
event, while a slow producer still sees each event sent at once.

Locking: ``_cond`` guards ``_buffer``, ``_in_flight``, ``_failure`` and ``_closing``. The feeder
is the only thread that sends; the ack thread is the only one that receives.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from multiprocessing.connection import Client, Connection
from typing import Any

from veritas.events import ProgressEvent
from veritas.faults import FaultInjector
from veritas.qwire import END, decode_ack, encode_batch


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
        put_timeout: float = 10.0,
        sever_after: int | None = None,
        injector: FaultInjector | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"QueueSender maxsize {maxsize} must be >= 1")
        self.maxsize = maxsize
        self.put_timeout = put_timeout
        self._sever_after = sever_after  # test-only (veritas.faults): cut after this many
        self._injector = injector  # test-only (veritas.faults): corrupts what is sent
        self._sent = 0
        try:
            self._conn: Connection = Client(address, authkey=authkey)
        except Exception as exc:
            raise QueueFailure(f"connect: {type(exc).__name__}: {exc}") from None
        self._cond = threading.Condition()
        self._buffer: collections.deque[ProgressEvent] = collections.deque()
        self._sending: list[ProgressEvent] = []
        self._in_flight = 0  # buffered + being sent + sent and not yet acknowledged
        self._failure: str | None = None
        self._closing = False
        self._feeder = threading.Thread(target=self._feed, name="veritas-queue-feeder", daemon=True)
        self._acks = threading.Thread(
            target=self._read_acks, name="veritas-queue-acks", daemon=True
        )
        self._feeder.start()
        self._acks.start()

    def __repr__(self) -> str:
        state = self._failure or ("closing" if self._closing else "open")
        return f"<QueueSender {state} in_flight={self._in_flight}/{self.maxsize}>"

    def put(self, event: ProgressEvent) -> None:
        """Queue *event*; wait under backpressure; raise QueueFailure instead of dropping."""
        deadline = time.monotonic() + self.put_timeout
        with self._cond:
            while self._failure is None and self._in_flight >= self.maxsize:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._failure = (
                        f"put timed out after {self.put_timeout:g}s with "
                        f"{self._in_flight} events in flight (maxsize {self.maxsize})"
                    )
                    break
                self._cond.wait(left)
            if self._failure is not None:
                raise QueueFailure(self._failure)
            self._buffer.append(event)
            self._in_flight += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Send everything, the end sentinel, and wait for the parent to acknowledge it all."""
        deadline = time.monotonic() + self.put_timeout
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            while self._failure is None and self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._failure = f"close timed out with {self._in_flight} events unacknowledged"
                    break
                self._cond.wait(left)
            if self._failure is not None:
                raise QueueFailure(self._failure)
        self._feeder.join(self.put_timeout)
        self._conn.close()

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
            unsent = [*self._sending, *self._buffer]
            self._sending = []
            self._buffer.clear()
        with contextlib.suppress(OSError):
            self._conn.close()
        return unsent

    def _feed(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and self._failure is None and not self._closing:
                    self._cond.wait()
                if self._failure is not None:
                    return
                if not self._buffer:  # closing and drained
                    break
                self._sending = list(self._buffer)
                self._buffer.clear()
            try:
                self._send_batch()
            except Exception as exc:
                with self._cond:
                    if self._failure is None:
                        self._failure = f"put failed: {type(exc).__name__}: {exc}"
                    self._cond.notify_all()
                return  # _sending keeps the batch for abandon()
            with self._cond:
                self._sending = []
        try:
            self._conn.send_bytes(END)
        except Exception as exc:
            with self._cond:
                if self._failure is None:
                    self._failure = f"end of stream failed: {type(exc).__name__}: {exc}"
                self._cond.notify_all()

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
            self._conn.close()
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
                    self._in_flight -= count
                    self._cond.notify_all()
        except Exception as exc:
            with self._cond:
                if self._failure is None and self._in_flight > 0:
                    self._failure = f"queue closed by parent: {type(exc).__name__}: {exc}"
                self._cond.notify_all()
