"""``multiprocessing.connection``'s framing, read by the parent's event loop (POSIX).

A message on the wire is a 4-byte big-endian signed length and the bytes, or -1, an 8-byte
length and the bytes (CPython keeps this "for wire compatibility with 3.7").
``tests/veritas/test_qstream.py`` checks both directions against the running interpreter.

``FrameProtocol`` is an ``asyncio.Protocol``: the selector's read callback decodes the frames
and hands the messages on in the same step, with no stream reader and no task to wake in
between. A batch from the child therefore costs the loop one step fewer than a line on stdout,
which goes through a ``StreamReader`` and the task reading it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

_LEN = struct.Struct("!i")
_LONG_LEN = struct.Struct("!Q")


class FrameError(ValueError):
    """Bytes that are not a ``multiprocessing.connection`` frame."""


def frame(message: bytes) -> bytes:
    """*message* as ``Connection.send_bytes`` puts it on the wire."""
    if len(message) > 0x7FFFFFFF:
        return _LEN.pack(-1) + _LONG_LEN.pack(len(message)) + message
    return _LEN.pack(len(message)) + message


class FrameDecoder:
    """Cuts a byte stream into messages; keeps an incomplete frame until the rest arrives."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def __repr__(self) -> str:
        return f"<FrameDecoder pending={len(self._pending)} bytes>"

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by *data*, in order."""
        if self._pending:
            self._pending += data
            src: bytes | bytearray = self._pending
        else:
            src = data  # the usual case: whole frames in one read, no copy into the buffer
        messages: list[bytes] = []
        pos, end = 0, len(src)
        while end - pos >= _LEN.size:
            (size,) = _LEN.unpack_from(src, pos)
            head = _LEN.size
            if size == -1:
                if end - pos < _LEN.size + _LONG_LEN.size:
                    break
                (size,) = _LONG_LEN.unpack_from(src, pos + _LEN.size)
                head += _LONG_LEN.size
            elif size < 0:
                raise FrameError(f"bad frame length {size} (accepted: 0 or more, or -1)")
            if end - pos - head < size:
                break
            messages.append(bytes(src[pos + head : pos + head + size]))
            pos += head + size
        if src is self._pending:
            del self._pending[:pos]
        elif pos < end:
            self._pending += memoryview(data)[pos:]
        return messages


class FrameProtocol(asyncio.Protocol):
    """Calls ``on_message`` for each message, and ``on_closed`` if the stream breaks.

    ``on_message`` returns False to stop reading (the end of the stream, or a message it
    refuses); nothing more is handed on. Either way the connection stays open for writing
    (the last acknowledgements go out after the end of the stream): its owner closes it.
    """

    def __init__(
        self,
        on_message: Callable[[bytes], bool],
        on_closed: Callable[[str | None], None],
    ) -> None:
        self._on_message = on_message
        self._on_closed = on_closed
        self._decoder = FrameDecoder()
        self._done = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        try:
            messages = self._decoder.feed(data)
        except FrameError as exc:
            self._finish(f"queue read failed: {exc}")
            return
        for message in messages:
            if not self._on_message(message):
                self._finish(None)
                return

    def eof_received(self) -> bool:
        self._finish("queue closed without end of stream")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._finish("queue closed without end of stream")
        else:
            self._finish(f"queue read failed: {type(exc).__name__}: {exc}")

    def write(self, message: bytes) -> None:
        """Send *message* framed; buffered by the transport, never blocks the loop."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(message))

    def _finish(self, error: str | None) -> None:
        if self._done:
            return
        self._done = True  # what follows is read and dropped, so the child's hang-up is seen
        if error is not None:
            self._on_closed(error)
