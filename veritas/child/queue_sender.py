"""The child's end of the Queue (runs in the child; standard library only).

Durability: when ``put`` returns, its event is in the kernel (the socket's buffer, which the
parent reads even after this process is killed) or already in the parent — never in a buffer
of this process, which SIGKILL, the OOM killer or ``os._exit`` would destroy. So the putting
thread writes the event's frame itself and returns once the kernel has taken all of it; there
is no feeder thread holding accepted events. The kernel does the batching that matters: the
parent's event loop reads whatever frames have accumulated in one read and hands them on as
one batch.

``put`` never drops: it waits while ``maxsize`` events, or ``max_bytes`` of payload, are in
flight (sent but not yet acknowledged by the parent), until ``put_timeout`` seconds have
passed without a word from the parent. A parent whose consumer is slow (a web client reading
slowly) sends acknowledgements of zero events to say it is alive, so it is waited for as long
as it lives; a parent that hangs says nothing and the child fails over. A put also waits, at
most ``put_timeout`` seconds, while the socket cannot take its frame. A ``put`` that raises ``QueueFailure`` did
not accept its event (the parent may hold part of its frame, never a whole one), so the
emitter sends it over stdout and nothing is lost or repeated. The parent acknowledges in
``seq`` order, so the sizes of the events in flight are a FIFO.

On a socket (POSIX) the write never blocks past the deadline: the socket is written without
blocking and polled for room. On a named pipe (Windows; ``named_pipe=True`` selects the same
path on any platform, for tests) the write blocks, as ``Connection.send_bytes`` does.

The connection's descriptor is closed only once no thread can use it any more: a thread that
read ``_handle`` just before another closed it would otherwise read or write whatever file
the process opens next under the same number (a module being imported, a page being
written). The ack thread ends on the parent's ``E`` (its last message) or when the parent
hangs up; a hang-up of this side only shuts down the sending side (the parent reads
everything sent, sees the end and hangs up), and the descriptor is closed after the ack
thread is done. Shutting down the receiving side too would make the parent's next
acknowledgement fail.

Locking: ``_send_lock`` makes one ``put`` (or the end of stream) at a time write, and keeps
the order of the writes that of the credit taken. ``_lock`` guards ``_in_flight``,
``_sizes``, ``_in_flight_bytes``, ``_failure``, ``_end_read`` and ``_closing``; ``_cond`` is
the condition on that same lock that a put waits on for acknowledgements, so a put that
finds room takes one plain lock and nothing else. The ack thread is the only one that
receives.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import select
import socket
import sys
import threading
import time
from multiprocessing.connection import Client, Connection
from typing import Any

from veritas.child.faults import FaultInjector
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import (
    BATCH,
    BATCH_HEAD,
    END,
    JOIN_MAX,
    MAX_BYTES,
    batch_frame,
    decode_ack,
    encode_batch,
    frame_header,
    shut_down,
)

_dumps = pickle.dumps
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)  # POSIX; a named pipe never gets there

#: How long the parent gets to hang up after the end before the ack thread is woken anyway.
HANG_UP_GRACE = 1.0


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
        named_pipe: bool = sys.platform == "win32",
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"QueueSender maxsize {maxsize} must be >= 1")
        if max_bytes < 1:
            raise ValueError(f"QueueSender max_bytes {max_bytes} must be >= 1")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.put_timeout = put_timeout
        #: a named pipe: blocking writes, no shutdown (closing is what wakes a reader)
        self.named_pipe = named_pipe
        self._sever_after = sever_after  # test-only (veritas.child.faults): cut after this many
        self._injector = injector  # test-only (veritas.child.faults): corrupts what is sent
        self._sent = 0
        try:
            self._conn: Connection = Client(address, authkey=authkey)
        except Exception as exc:
            raise QueueFailure(f"connect: {type(exc).__name__}: {exc}") from None
        # Writes go through a duplicate, so that they can be made without blocking while the
        # ack thread's reads of the original still block (the flag is per call, not per socket).
        self._out: socket.socket | None = None
        self._poll: select.poll | None = None
        if not named_pipe:
            self._out = socket.socket(fileno=os.dup(self._conn.fileno()))
            with contextlib.suppress(OSError):
                # Room in the kernel for all the payload the credit lets be in flight: a put
                # then waits for credit rather than for the parent to read, and the parent
                # reads one event while the child builds the next.
                self._out.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max_bytes)
            self._poll = select.poll()
            self._poll.register(self._out.fileno(), select.POLLOUT)
        #: no fault injection and a socket: ``put`` frames and writes the event itself
        self._plain = sever_after is None and injector is None and self._out is not None
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # waits for acknowledgements
        self.sends = 0  # messages written (for tests and benches)
        self._in_flight = 0  # sent and not yet acknowledged
        self._sizes: collections.deque[int] = collections.deque()  # their payload sizes
        self._in_flight_bytes = 0
        self._failure: str | None = None
        self._end_read = False  # the parent has read the end of stream
        self._heard = 0.0  # monotonic time of the parent's latest acknowledgement
        self._closing = False
        self._acks = threading.Thread(
            target=self._read_acks, name="veritas-queue-acks", daemon=True
        )
        self._acks.start()

    def __repr__(self) -> str:
        state = self._failure or ("closing" if self._closing else "open")
        return (
            f"<QueueSender {state} in_flight={self._in_flight}/{self.maxsize} "
            f"bytes={self._in_flight_bytes}/{self.max_bytes}>"
        )

    @property
    def in_flight(self) -> int:
        """Events sent and not yet acknowledged by the parent."""
        with self._cond:
            return self._in_flight

    def put(self, event: ProgressEvent) -> None:
        """Send *event*: wait under backpressure; return once the kernel holds all of it.

        Raises QueueFailure, with the event not accepted, instead of dropping it.
        """
        deadline = time.monotonic() + self.put_timeout
        data = event.data
        size = 0 if data is None else len(data)
        # The usual put finds both locks free and room in flight: no timeout bookkeeping.
        if not self._send_lock.acquire(False) and not self._send_lock.acquire(
            timeout=self.put_timeout
        ):
            raise QueueFailure(self._fail(f"put timed out after {self.put_timeout:g}s"))
        try:
            with self._lock:
                if self._failure is not None or self._full(size):
                    self._wait_for_room(size, deadline)
                # Counted before the write: the parent may acknowledge it before it returns.
                self._in_flight += 1
                self._sizes.append(size)
                self._in_flight_bytes += size
            try:
                if self._plain:  # the usual put: one frame, written here and now
                    self.sends += 1
                    body = _dumps([event.as_tuple()], 5)
                    if len(body) < JOIN_MAX:
                        message = BATCH_HEAD.pack(len(body) + 1, BATCH) + body
                        try:
                            sent = self._out.send(message, _DONTWAIT)  # type: ignore[union-attr]
                        except BlockingIOError:
                            sent = 0
                        if sent != len(message):  # the kernel took part of it, or none
                            self._send_parts([memoryview(message)[sent:]], deadline)
                    else:
                        self._send_parts(batch_frame([event]), deadline)
                    self._sent += 1
                else:
                    self._send_event(event, deadline)
            except Exception as exc:
                with self._lock:
                    self._in_flight -= 1
                    self._in_flight_bytes -= self._sizes.pop()
                raise QueueFailure(self._fail(f"put failed: {type(exc).__name__}: {exc}")) from None
        finally:
            self._send_lock.release()

    def _wait_for_room(self, size: int, deadline: float) -> None:
        """Wait until a put of *size* payload bytes may go; raise QueueFailure if it may not.
        (The caller holds ``_lock``.)"""
        while self._failure is None and self._full(size):
            left = self._patience(deadline)
            if left <= 0:
                self._failure = (
                    f"put timed out after {self.put_timeout:g}s with "
                    f"{self._in_flight} events ({self._in_flight_bytes} payload bytes) "
                    f"in flight (maxsize {self.maxsize}, max_bytes {self.max_bytes})"
                )
                break
            self._cond.wait(left)
        if self._failure is not None:
            raise QueueFailure(self._failure)

    def _patience(self, deadline: float) -> float:
        """Seconds left to wait: until *deadline* or ``put_timeout`` after the parent was last
        heard from, whichever is later. (The caller holds ``_lock``.)"""
        return max(deadline, self._heard + self.put_timeout) - time.monotonic()

    def _full(self, size: int) -> bool:
        """Must a put of *size* payload bytes wait? (The caller holds ``_lock``.)"""
        if self._in_flight >= self.maxsize:
            return True
        return self._in_flight > 0 and self._in_flight_bytes + size > self.max_bytes

    def _fail(self, reason: str) -> str:
        """Record *reason* unless a failure is already recorded; the recorded one."""
        with self._cond:
            if self._failure is None:
                self._failure = reason
            self._cond.notify_all()
            return self._failure

    def close(self) -> None:
        """Send the end sentinel and wait until the parent has read it all."""
        deadline = time.monotonic() + self.put_timeout
        if not self._send_lock.acquire(timeout=self.put_timeout):
            raise QueueFailure(self._fail("end of stream timed out"))
        try:
            if self._failure is None:
                try:
                    self._write(END, deadline)
                except Exception as exc:
                    self._fail(f"end of stream failed: {type(exc).__name__}: {exc}")
        finally:
            self._send_lock.release()
        with self._cond:
            self._closing = True
            # The parent acknowledges what it delivered, then says it has read the end; after
            # a gap it can deliver no further, and the end is all it will say.
            while self._failure is None and self._in_flight > 0 and not self._end_read:
                left = self._patience(deadline)
                if left <= 0:
                    self._failure = f"close timed out with {self._in_flight} events unacknowledged"
                    break
                self._cond.wait(left)
            if self._failure is not None:
                raise QueueFailure(self._failure)
        self._release()

    def abandon(self) -> None:
        """Stop using the Queue. Every event a put accepted is already with the parent or in
        the kernel on its way there; what follows goes over stdout."""
        self._fail("abandoned")
        if not self._send_lock.acquire(timeout=self.put_timeout):
            self._shut_down()  # a write stuck on a parent that stopped reading fails now
            self._send_lock.acquire(timeout=self.put_timeout)
        self._send_lock.release()
        self._release()

    def _shut_down(self, how: int = socket.SHUT_WR) -> None:
        """Hang up without closing the descriptor."""
        if self.named_pipe:  # no shutdown; closing is what wakes a reader
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
        if self._out is not None:
            self._out.close()
        with contextlib.suppress(OSError):
            self._conn.close()

    def _send_event(self, event: ProgressEvent, deadline: float) -> None:
        """Write *event*'s frame when faults are injected or on a named pipe (the caller
        holds ``_send_lock``); raise if it was not sent. ``put`` writes the others itself."""
        batch = [event]
        if self._sever_after is not None and self._sent >= self._sever_after:
            reason = f"fault injection: severed after {self._sent} events"
            self._fail(f"put failed: {reason}")
            self._shut_down()
            raise ConnectionAbortedError(reason)
        if self._injector is not None:
            batch = self._injector.apply(batch)
        if batch:
            self._write(encode_batch(batch), deadline)
        self._sent += 1

    def _write(self, message: bytes, deadline: float) -> None:
        """Write *message* as one frame; return once the kernel has taken all of it."""
        self.sends += 1
        if self._out is None:
            self._conn.send_bytes(message)
            return
        if len(message) <= 0xFFFF:
            self._send_parts([frame_header(len(message)) + message], deadline)
        else:  # do not copy a large payload just to put its length in front
            self._send_parts([frame_header(len(message)), message], deadline)

    def _send_parts(self, parts: list[bytes] | list[memoryview], deadline: float) -> None:
        """Write *parts* in order without blocking past *deadline*; return once the kernel
        has taken all of them (the caller holds ``_send_lock``)."""
        out = self._out
        assert out is not None and self._poll is not None
        views: list[bytes | memoryview] = list(parts)
        while True:
            try:
                if len(views) == 1:
                    sent = out.send(views[0], socket.MSG_DONTWAIT)
                else:
                    sent = out.sendmsg(views, (), socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                del views[0]
            if not views:
                return
            if sent:
                views[0] = memoryview(views[0])[sent:]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the parent took no data for {self.put_timeout:g}s")
            self._poll.poll(max(1, int(left * 1000)))

    def _read_acks(self) -> None:
        try:
            while True:
                message = self._conn.recv_bytes()
                if message == END:  # the parent's last word: nothing to read any more
                    with self._cond:
                        self._end_read = True
                        self._cond.notify_all()
                    return
                count = decode_ack(message)
                with self._cond:
                    self._heard = time.monotonic()
                    self._in_flight -= count
                    for _ in range(min(count, len(self._sizes))):
                        self._in_flight_bytes -= self._sizes.popleft()
                    self._cond.notify_all()
        except Exception as exc:
            with self._cond:
                if self._failure is None and self._in_flight > 0 and not self._end_read:
                    self._failure = f"queue closed by parent: {type(exc).__name__}: {exc}"
                self._cond.notify_all()
