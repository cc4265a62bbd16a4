"""Framing of the Queue transport (both ends import this; standard library only).

The Queue is one authenticated ``multiprocessing.connection`` channel between the parent and
its child, used as a bounded queue:

* child → parent: ``B`` + pickle(list of event tuples) — a batch, in ``seq`` order;
  ``E`` — end of stream (explicit sentinel; EOF without it means the child died).
* parent → child: ``A`` + 4-byte little-endian count — that many events were delivered to the
  consumer, so the child may put that many more (credit-based flow control; ``maxsize`` events
  at most are ever in flight, which is what bounds the queue and applies backpressure).
  ``max_bytes`` bounds the payload bytes in flight as well (an event bigger than that still
  goes, alone), so a burst of screenshots holds at most that much memory and queueing time.

Batches are unpickled with ``find_class`` disabled: a batch is tuples of builtins only, so even
an authenticated peer cannot make the parent import or call anything.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import socket
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NoReturn

from veritas.events import ProgressEvent

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


def decode_batch(message: bytes) -> list[ProgressEvent]:
    if message[:1] != BATCH:
        raise WireError(f"expected a batch, got kind {message[:1]!r}")
    try:
        rows: Any = _BuiltinsOnly(io.BytesIO(memoryview(message)[1:])).load()
        return [ProgressEvent(*row) for row in rows]
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
