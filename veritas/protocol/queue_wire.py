"""The Queue transport's wire: messages, frames and the frame reader (standard library only).

The Queue is one authenticated ``multiprocessing.connection`` channel between the parent and
its child, used as a bounded queue:

* child → parent: ``B`` + pickle(list of event tuples) — a batch, in ``seq`` order;
  ``E`` — end of stream (explicit sentinel; EOF without it means the child died).
* parent → child: ``A`` + 4-byte little-endian count — that many events were delivered to the
  consumer, so the child may put that many more (credit-based flow control; ``maxsize`` events
  at most are ever in flight, which is what bounds the queue and applies backpressure).
  ``max_bytes`` bounds the payload bytes in flight as well (an event bigger than that still
  goes, alone), so a burst of screenshots holds at most that much memory and queueing time.
  ``E`` — the parent has read the end of stream and delivered every event it can: the child
  need not wait for more acknowledgements (after a gap, some never come).

Batches are unpickled with ``find_class`` disabled: a batch is tuples of builtins only, so even
an authenticated peer cannot make the parent import or call anything.

Frames are ``multiprocessing.connection``'s own: a 4-byte big-endian signed length and the
bytes, or -1, an 8-byte length and the bytes (CPython keeps this "for wire compatibility with
3.7"). The tests check both directions against the running interpreter.

``FrameProtocol`` is an ``asyncio.BufferedProtocol``: the selector's read callback reads into
the frame decoder's own buffers, decodes the frames and hands the messages on in the same
step, with no stream reader and no task to wake in between. A batch from the child therefore costs the loop one step fewer than a line on stdout,
which goes through a ``StreamReader`` and the task reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from itertools import starmap
from typing import TYPE_CHECKING, Any, Final, NoReturn

from veritas.protocol.event import ProgressEvent

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: Default bound on the payload bytes (``ProgressEvent.data``) in flight at once.
MAX_BYTES: Final = 4 * 1024 * 1024

BATCH: Final = b"B"
END: Final = b"E"
ACK: Final = b"A"
_ACK = struct.Struct("<I")


class WireError(ValueError):
    """A Queue message that does not follow the framing above."""


class _BuiltinsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> NoReturn:
        raise WireError(f"batch refers to {module}.{name}; only builtin values are accepted")


def encode_batch(events: Sequence[ProgressEvent]) -> bytes:
    return BATCH + pickle.dumps([e.as_tuple() for e in events], protocol=5)


def batch_frame(events: Sequence[ProgressEvent]) -> list[bytes]:
    """``encode_batch(events)`` framed as ``Connection.send_bytes`` frames it, as the parts
    to write in order: one for a small batch, the header apart for a large one, so that a
    large pickled body is never copied only to put its length in front."""
    body = pickle.dumps([e.as_tuple() for e in events], protocol=5)
    size = len(body) + 1
    if size > 0x7FFFFFFF:
        return [_LEN.pack(-1) + _LONG_LEN.pack(size) + BATCH, body]
    head = BATCH_HEAD.pack(size, BATCH)
    return [head + body] if size <= JOIN_MAX else [head, body]


class _FrameReader:
    """A read-only file over a frame that is not ``bytes`` (a large one, read into a buffer of
    its own), for the unpickler: a payload is copied once, by ``readinto``, from the frame
    straight into its ``bytes`` object, where ``BytesIO`` would first copy the whole frame."""

    def __init__(self, frame: bytes | bytearray, pos: int) -> None:
        self._view = memoryview(frame)
        self._pos = pos

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else min(len(self._view), self._pos + n)
        data = bytes(self._view[self._pos : end])
        self._pos = end
        return data

    def readinto(self, buffer: memoryview) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def readline(self) -> bytes:
        at = bytes(self._view[self._pos :]).find(b"\n")
        return self.read(-1 if at < 0 else at + 1)


def decode_batch(message: bytes | bytearray) -> list[ProgressEvent]:
    if message[:1] != BATCH:
        raise WireError(f"expected a batch, got kind {bytes(message[:1])!r}")
    try:
        stream: Any
        if type(message) is bytes:
            # BytesIO shares a bytes object's buffer (a slice or a memoryview would be copied).
            stream = io.BytesIO(message)
            stream.seek(1)
        else:
            stream = _FrameReader(message, 1)
        rows: Any = _BuiltinsOnly(stream).load()
        return list(starmap(ProgressEvent, rows))
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"undecodable batch of {len(message)} bytes: {exc}") from None


def encode_ack(count: int) -> bytes:
    return ACK + _ACK.pack(count)


def decode_ack(message: bytes) -> int:
    if message[:1] != ACK or len(message) != 1 + _ACK.size:
        raise WireError(f"expected an ack, got {message[:16]!r}")
    (count,) = _ACK.unpack_from(message, 1)
    return int(count)


def shut_down(conn: Connection, how: int = socket.SHUT_WR) -> None:
    """Shut *conn*'s socket down (POSIX) without closing the descriptor; a no-op once closed.

    A thread blocked reading it wakes up, and unlike ``close`` the descriptor's number cannot
    be reused under a thread that is about to read or write it.
    """
    with (
        contextlib.suppress(OSError, ValueError),
        socket.socket(fileno=os.dup(conn.fileno())) as sock,
    ):
        sock.shutdown(how)


# --- Frames, read by the parent's event loop (POSIX) ---

_LEN = struct.Struct("!i")
_LONG_LEN = struct.Struct("!Q")
BATCH_HEAD: Final = struct.Struct("!ic")  # a frame's length and the batch's kind byte
#: Up to this size a frame is written as one joined buffer (copying it costs less than a
#: second buffer); above it the header goes apart.
JOIN_MAX: Final = 0xFFFF


class FrameError(ValueError):
    """Bytes that are not a ``multiprocessing.connection`` frame."""


def frame_header(size: int) -> bytes:
    """What ``Connection.send_bytes`` writes before a message of *size* bytes."""
    if size > 0x7FFFFFFF:
        return _LEN.pack(-1) + _LONG_LEN.pack(size)
    return _LEN.pack(size)


def frame(message: bytes) -> bytes:
    """*message* as ``Connection.send_bytes`` puts it on the wire."""
    return frame_header(len(message)) + message


class FrameDecoder:
    """Cuts a byte stream into messages; keeps an incomplete frame until the rest arrives.

    Reads go straight into its buffers: ``get_buffer`` is where the next read writes and
    ``buffer_updated`` takes what it wrote (what ``asyncio.BufferedProtocol`` calls), so a
    frame is never appended to one buffer and sliced out of it again. Frames that fit the
    scratch buffer (``scratch`` bytes) are cut from it as ``bytes``; a larger one is read
    into a ``bytearray`` of its own size and handed on as it is, with no copy. ``feed`` does
    the same for bytes read elsewhere.
    """

    def __init__(self, scratch: int = 1 << 18) -> None:
        if scratch < _LEN.size + _LONG_LEN.size:
            raise ValueError(f"FrameDecoder scratch {scratch} must be >= 12 bytes")
        self._buf = bytearray(scratch)
        self._start = 0  # [_start, _end) of _buf: received, not yet a whole frame
        self._end = 0
        self._big: bytearray | None = None  # a frame larger than _buf, being filled
        self._big_fill = 0

    def __repr__(self) -> str:
        return f"<FrameDecoder pending={self.pending} bytes>"

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return self._end - self._start + self._big_fill

    def get_buffer(self) -> memoryview:
        """Where the next read writes (at least one byte)."""
        if self._big is not None:
            return memoryview(self._big)[self._big_fill :]
        if self._end == len(self._buf):  # full: move the partial frame to the front
            rest = self._end - self._start
            self._buf[:rest] = self._buf[self._start : self._end]
            self._start, self._end = 0, rest
        return memoryview(self._buf)[self._end :]

    def buffer_updated(self, nbytes: int) -> list[bytes | bytearray]:
        """The messages completed by the *nbytes* just written into ``get_buffer()``."""
        if self._big is not None:
            self._big_fill += nbytes
            if self._big_fill < len(self._big):
                return []
            messages: list[bytes | bytearray] = [self._big]
            self._big, self._big_fill = None, 0
            return messages
        self._end += nbytes
        return self._cut()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed by *data*, in order (each as ``bytes``)."""
        messages: list[bytes] = []
        view = memoryview(data)
        while view:
            buffer = self.get_buffer()
            n = min(len(buffer), len(view))
            buffer[:n] = view[:n]
            buffer.release()
            messages += (bytes(m) for m in self.buffer_updated(n))
            view = view[n:]
        return messages

    def _cut(self) -> list[bytes | bytearray]:
        messages: list[bytes | bytearray] = []
        buf, pos, end = self._buf, self._start, self._end
        with memoryview(buf) as view:
            while end - pos >= _LEN.size:
                (size,) = _LEN.unpack_from(buf, pos)
                head = _LEN.size
                if size == -1:
                    if end - pos < _LEN.size + _LONG_LEN.size:
                        break
                    (size,) = _LONG_LEN.unpack_from(buf, pos + _LEN.size)
                    head += _LONG_LEN.size
                elif size < 0:
                    raise FrameError(f"bad frame length {size} (accepted: 0 or more, or -1)")
                if end - pos - head >= size:
                    messages.append(bytes(view[pos + head : pos + head + size]))
                    pos += head + size
                    continue
                if head + size > len(buf):  # will not fit: the rest is read into its own buffer
                    have = end - pos - head
                    self._big = bytearray(size)
                    self._big[:have] = view[pos + head : end]
                    self._big_fill = have
                    pos = end
                break
        if pos == end:
            self._start = self._end = 0
        else:
            self._start = pos
        return messages


class FrameProtocol(asyncio.BufferedProtocol):
    """Calls ``on_message`` for each message, ``on_read`` after each read's messages, and
    ``on_closed`` if the stream breaks.

    ``on_message`` returns False to stop reading (the end of the stream, or a message it
    refuses); nothing more is handed on. Either way the connection stays open for writing
    (the last acknowledgements go out after the end of the stream): its owner closes it.

    Writes never touch reading. The transport's own ``write`` would, on a failed send (the
    child died with acknowledgements on their way), close the transport and drop whatever
    the child had written that the loop had not read yet — the events a dying child sent
    last. So the protocol writes on a duplicate of the socket, without blocking (what the
    socket cannot take waits for a writer callback); a failed write is remembered in
    ``write_error``, later writes are skipped, and reading goes on to the end of the stream.
    """

    def __init__(
        self,
        on_message: Callable[[bytes | bytearray], bool],
        on_closed: Callable[[str | None], None],
        on_read: Callable[[], None] | None = None,
        *,
        scratch: int = 1 << 18,
    ) -> None:
        self._on_message = on_message
        self._on_closed = on_closed
        self._on_read = on_read
        self._decoder = FrameDecoder(scratch)
        self._done = False
        self.transport: asyncio.Transport | None = None
        self._out: socket.socket | None = None  # the duplicate the writes go through
        self._unsent = bytearray()
        self._writing = False  # a writer callback waits for the socket to take _unsent
        #: why writing stopped, if it did (reading goes on regardless)
        self.write_error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._out = socket.socket(fileno=os.dup(sock.fileno()))
            self._out.setblocking(False)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._decoder.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self._done:
            return
        try:
            messages = self._decoder.buffer_updated(nbytes)
        except FrameError as exc:
            self._finish(f"queue read failed: {exc}")
            return
        for message in messages:
            if not self._on_message(message):
                self._finish(None)
                break
        if self._on_read is not None:
            self._on_read()

    def eof_received(self) -> bool:
        self._finish("queue closed without end of stream")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self._finish("queue closed without end of stream")
        else:
            self._finish(f"queue read failed: {type(exc).__name__}: {exc}")
        self._close_out()

    def write(self, message: bytes) -> None:
        """Send *message* framed; never blocks the loop, never stops the reading."""
        if self._out is None or self.write_error is not None:
            return
        if self._writing:
            self._unsent += frame(message)
            return
        data = frame(message)
        try:
            sent = self._out.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._write_failed(exc)
            return
        if sent < len(data):
            self._unsent += memoryview(data)[sent:]
            self._writing = True
            asyncio.get_running_loop().add_writer(self._out.fileno(), self._write_unsent)

    def _write_unsent(self) -> None:
        assert self._out is not None
        try:
            sent = self._out.send(self._unsent)
        except BlockingIOError:
            return
        except OSError as exc:
            self._write_failed(exc)
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._stop_writing()

    def _write_failed(self, exc: OSError) -> None:
        self.write_error = f"{type(exc).__name__}: {exc}"
        self._unsent.clear()
        self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing and self._out is not None:
            self._writing = False
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                asyncio.get_running_loop().remove_writer(self._out.fileno())

    def _close_out(self) -> None:
        """Close the duplicate: the socket is closed for good once the transport's is too."""
        if self._out is not None:
            self._stop_writing()
            self._out.close()
            self._out = None

    def _finish(self, error: str | None) -> None:
        if self._done:
            return
        self._done = True  # what follows is read and dropped, so the child's hang-up is seen
        if error is not None:
            if self.write_error is not None:
                error += f" (acknowledgements stopped: {self.write_error})"
            self._on_closed(error)
