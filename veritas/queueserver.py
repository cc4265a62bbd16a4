"""The parent's end of the Queue (runs in the parent; see ``veritas.qwire`` for the framing).

One ``QueueServer`` per audit: an authenticated ``multiprocessing.connection.Listener`` on a
fresh address (a Unix socket in a private directory on POSIX, a named pipe on Windows) with a
random authkey. A reader thread accepts the child, receives batches and hands them to the
event loop; ``ack`` gives credit back once events reach the consumer.

``Listener.accept`` cannot be interrupted portably, so ``close`` wakes a reader still waiting
for a child that never came by connecting to the listener itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from typing import Any

from veritas.events import ProgressEvent
from veritas.qwire import BATCH, END, decode_batch, encode_ack

log = logging.getLogger("veritas.ipc")

#: What the reader thread reports to the event loop.
OnBatch = Callable[[list[ProgressEvent]], None]
OnEnd = Callable[[str | None], None]


class QueueServer:
    def __init__(self, maxsize: int = 1000, put_timeout: float = 10.0) -> None:
        if maxsize < 1:
            raise ValueError(f"Queue maxsize {maxsize} must be >= 1")
        self.maxsize = maxsize
        self.put_timeout = put_timeout
        self._authkey = os.urandom(32)
        self._listener = Listener(authkey=self._authkey)
        self._conn: Connection | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()
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
            "put_timeout": self.put_timeout,
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
            try:
                while True:
                    message = conn.recv_bytes()
                    if message[:1] == BATCH:
                        loop.call_soon_threadsafe(on_batch, decode_batch(message))
                    elif message == END:
                        post_end(None)
                        return
                    else:
                        post_end(f"unknown message kind {message[:1]!r}")
                        return
            except EOFError:
                post_end("queue closed without end of stream")
            except Exception as exc:
                post_end(f"queue read failed: {type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=run, name="veritas-queue-reader", daemon=True)
        self._thread.start()

    def ack(self, count: int) -> None:
        """Tell the child that *count* more events reached the consumer."""
        conn = self._conn
        if conn is None or count <= 0:
            return
        try:
            with self._send_lock:
                conn.send_bytes(encode_ack(count))
        except OSError as exc:  # the child is gone; nothing waits for the credit
            log.debug("ack of %d not sent: %s", count, exc)

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
        if self._conn is not None:
            self._conn.close()
        self._listener.close()
