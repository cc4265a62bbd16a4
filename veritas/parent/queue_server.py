"""The parent's end of the Queue (runs in the parent; see ``veritas.protocol.queue_wire`` for the framing).

One ``QueueServer`` per audit: an authenticated ``multiprocessing.connection.Listener`` on a
fresh address (a Unix socket in a private directory on POSIX, a named pipe on Windows) with a
random authkey. A thread accepts the child (the authentication handshake is blocking); then

* on POSIX the event loop itself reads the socket through ``veritas.protocol.queue_wire.FrameProtocol``:
  a batch is decoded and handed on in the selector's own callback, with no thread hand-off
  and no reader task on the way;
* on Windows (a named pipe, which the selector loop cannot watch) the thread goes on reading
  and hands each batch to the loop.

``ack`` gives credit back once events reach the consumer.

``Listener.accept`` cannot be interrupted portably, so ``close`` wakes a reader still waiting
for a child that never came by connecting to the listener itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import (
    BATCH,
    END,
    MAX_BYTES,
    FrameProtocol,
    WireError,
    decode_batch,
    encode_ack,
    shut_down,
)

log = logging.getLogger("veritas.ipc")

#: What the reader thread reports to the event loop.
OnBatch = Callable[[list[ProgressEvent]], None]
OnEnd = Callable[[str | None], None]


class QueueServer:
    def __init__(
        self,
        maxsize: int = 1000,
        put_timeout: float = 10.0,
        *,
        max_bytes: int = MAX_BYTES,
        on_loop: bool | None = None,
        named_pipe: bool | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"Queue maxsize {maxsize} must be >= 1")
        if max_bytes < 1:
            raise ValueError(f"Queue max_bytes {max_bytes} must be >= 1")
        self.max_bytes = max_bytes
        #: read on the event loop (POSIX default) or in the accept thread (Windows)
        self.on_loop = sys.platform != "win32" if on_loop is None else on_loop
        #: treat the connection as a named pipe (the Windows default), here and in the child:
        #: no shutdown, blocking writes; selectable on any platform so tests run those paths
        self.named_pipe = sys.platform == "win32" if named_pipe is None else named_pipe
        self.maxsize = maxsize
        self.put_timeout = put_timeout
        self._authkey = os.urandom(32)
        self._listener = Listener(authkey=self._authkey)
        self._conn: Connection | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._protocol: FrameProtocol | None = None  # on_loop: reads the socket, writes acks
        self._adopting: asyncio.Task[Any] | None = None
        self.connected = threading.Event()

    def __repr__(self) -> str:
        state = (
            "closed" if self._closed else ("connected" if self.connected.is_set() else "listening")
        )
        return f"<QueueServer {state} address={self.address!r} maxsize={self.maxsize}>"

    @property
    def address(self) -> Any:
        return self._listener.address

    def handshake(self) -> bytes:
        """The line written to the child's stdin (never to argv or the environment)."""
        spec = {
            "address": self.address,
            "authkey": self._authkey.hex(),
            "maxsize": self.maxsize,
            "max_bytes": self.max_bytes,
            "put_timeout": self.put_timeout,
            "named_pipe": self.named_pipe,
        }
        return json.dumps(spec).encode() + b"\n"

    def start(self, loop: asyncio.AbstractEventLoop, on_batch: OnBatch, on_end: OnEnd) -> None:
        def post_end(error: str | None) -> None:
            loop.call_soon_threadsafe(on_end, error)

        def run() -> None:
            try:
                conn = self._listener.accept()
            except Exception as exc:
                if not self._closed:
                    post_end(f"accept failed: {type(exc).__name__}: {exc}")
                return
            if self._closed:  # woken by close(): no child ever connected
                conn.close()
                return
            self._conn = conn
            self.connected.set()
            if self.on_loop:
                loop.call_soon_threadsafe(self._adopt, conn, on_batch, on_end)
                return
            try:
                while True:
                    message = conn.recv_bytes()
                    if message[:1] == BATCH:
                        loop.call_soon_threadsafe(on_batch, decode_batch(message))
                    elif message == END:
                        post_end(None)
                        self._drain_and_hang_up(conn, self.named_pipe)
                        return
                    else:
                        post_end(f"unknown message kind {message[:1]!r}")
                        return
            except EOFError:
                post_end("queue closed without end of stream")
            except Exception as exc:
                post_end(f"queue read failed: {type(exc).__name__}: {exc}")

        self._loop = loop
        self._thread = threading.Thread(target=run, name="veritas-queue-reader", daemon=True)
        self._thread.start()

    @staticmethod
    def _drain_and_hang_up(conn: Connection, named_pipe: bool) -> None:
        """After the end: wait for the child's hang-up, then answer it (its ack thread ends)."""
        with contextlib.suppress(EOFError, OSError):
            while True:
                conn.recv_bytes()
        if not named_pipe:  # a socket; a named pipe's child closes its end itself
            shut_down(conn, socket.SHUT_RDWR)

    def _adopt(self, conn: Connection, on_batch: OnBatch, on_end: OnEnd) -> None:
        """On the loop: read the accepted connection from here on."""
        if self._closed:
            return
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()

        # The batches of one read are handed on as one: the child writes each event as soon as
        # it is put, and the frames that accumulated while the loop was busy arrive together.
        events: list[ProgressEvent] = []

        def on_read() -> None:
            if events:
                on_batch(events.copy())
                events.clear()

        def on_message(message: bytes | bytearray) -> bool:
            if message[:1] == BATCH:
                try:
                    events.extend(decode_batch(message))
                except WireError as exc:
                    on_read()
                    on_end(f"queue read failed: {type(exc).__name__}: {exc}")
                    return False
                return True
            on_read()
            on_end(None if message == END else f"unknown message kind {bytes(message[:1])!r}")
            return False

        self._protocol = FrameProtocol(on_message, on_end, on_read)
        loop = asyncio.get_running_loop()
        self._adopting = loop.create_task(
            loop.connect_accepted_socket(lambda: self._protocol, sock)
        )
        self._adopting.add_done_callback(lambda t: self._adopted(t, sock, on_end))

    def _adopted(self, task: asyncio.Task[Any], sock: socket.socket, on_end: OnEnd) -> None:
        if task.cancelled():
            sock.close()
        elif (exc := task.exception()) is not None:
            sock.close()
            on_end(f"queue read failed: {type(exc).__name__}: {exc}")

    def ack(self, count: int) -> None:
        """Tell the child that *count* more events reached the consumer (call on the loop)."""
        if count > 0:
            self._send_ack(count)

    def keepalive(self) -> None:
        """Tell the child that this parent is alive though it acknowledges nothing (its
        consumer is slow): an acknowledgement of zero events. The child's ``put_timeout``
        counts from the last word it heard, so a busy parent is waited for and a hung one
        is not (call on the loop)."""
        if self.connected.is_set():
            self._send_ack(0)

    def _send_ack(self, count: int) -> None:
        if self.on_loop:
            if self._protocol is not None:
                self._protocol.write(encode_ack(count))
            return
        self._send(encode_ack(count))

    def end_read(self) -> None:
        """Tell the child its end of stream was read and everything deliverable delivered
        (call on the loop, after the last ``ack``): it waits for no further acknowledgement."""
        if self.on_loop:
            if self._protocol is not None:
                self._protocol.write(END)
            return
        self._send(END)

    def _send(self, message: bytes) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            with self._send_lock:
                conn.send_bytes(message)
        except OSError as exc:  # the child is gone; nothing waits for the message
            log.debug("%r not sent to the child: %s", message[:1], exc)

    def _wake_accept(self) -> None:
        try:
            Client(self.address, authkey=self._authkey).close()
        except Exception as exc:
            log.debug("waking the accept thread failed: %s", exc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.connected.is_set() and self._thread is not None:
            # In its own thread: if the child connects at this very moment, the wake-up
            # connection waits behind it and must not hold up the caller.
            threading.Thread(target=self._wake_accept, daemon=True).start()
        if self._thread is not None:
            self._thread.join(5)
        if self._loop is not None and self._adopting is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._close_on_loop)
        if self._conn is not None:
            self._conn.close()
        self._listener.close()

    def _close_on_loop(self) -> None:
        if self._adopting is not None:
            self._adopting.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
