"""The stdout wire form of an event: one ``##PROGRESS:`` line, and ``##IPC:`` control lines.

Runs in both processes; standard library only.

Wire form on stdout: ``##PROGRESS:`` followed by one JSON object and ``\\n``, as bytes (never
through a text stream, so the platform's encoding plays no part). Strings are written as
UTF-8 characters, not ``\\uXXXX`` escapes, with surrogate code points in the three-byte form
that Python's ``surrogatepass`` error handler writes. The reason is exactness: JSON's escapes
cannot tell U+1F600 from the two code points U+D83D U+DE00 (``json.loads`` joins an escaped
high and low surrogate into one character), while this byte form maps every sequence of code
points to its own bytes and back. Newlines and other control characters inside strings are
still escaped by JSON, so an event is always one line. ``data`` is base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from veritas.protocol.event import FIELDS, ProgressEvent

MARKER: Final = b"##PROGRESS:"
#: A control line from the child's emitter (not an event): announces a Queue failover.
CONTROL_MARKER: Final = b"##IPC:"


class MalformedLine(ValueError):
    """A ``##PROGRESS:`` line that does not decode to an event."""


def dumps_exact(value: Any, *, allow_nan: bool = False) -> bytes:
    """JSON bytes that decode (with :func:`loads_exact`) to exactly *value*, surrogates included."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=allow_nan, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def loads_exact(raw: bytes) -> Any:
    """The inverse of :func:`dumps_exact`; ValueError (or UnicodeDecodeError) on bad input."""
    return json.loads(raw.decode("utf-8", "surrogatepass"))


def encode_line(event: ProgressEvent) -> bytes:
    """The stdout wire form of *event*: one line ending in ``\\n``."""
    obj = event.as_dict()
    if event.data is not None:
        obj["data"] = base64.b64encode(event.data).decode("ascii")
    return MARKER + dumps_exact(obj) + b"\n"


def decode_line(line: bytes) -> ProgressEvent:
    """Decode one marker line (with or without its ``\\n``); raise MalformedLine."""
    if not line.startswith(MARKER):
        raise MalformedLine("line does not start with ##PROGRESS:")
    body = line[len(MARKER) :].rstrip(b"\r\n")
    try:
        obj = loads_exact(body)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedLine(f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != set(FIELDS):
        raise MalformedLine("JSON object does not have exactly the event fields")
    raw = obj["data"]
    try:
        data = None if raw is None else base64.b64decode(raw, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise MalformedLine(f"data is not base64: {exc}") from None
    if not isinstance(obj["seq"], int) or isinstance(obj["seq"], bool) or obj["seq"] < 0:
        raise MalformedLine(f"seq {obj['seq']!r} is not a non-negative integer")
    for name in ("audit_id", "type", "phase", "step", "detail"):
        if not isinstance(obj[name], str):
            raise MalformedLine(f"{name} is not a string")
    if not isinstance(obj["summary"], dict):
        raise MalformedLine("summary is not an object")
    if not isinstance(obj["timestamp"], (int, float)) or not isinstance(obj["pct"], (int, float)):
        raise MalformedLine("pct and timestamp must be numbers")
    return ProgressEvent(
        audit_id=obj["audit_id"],
        seq=obj["seq"],
        type=obj["type"],
        phase=obj["phase"],
        step=obj["step"],
        pct=obj["pct"],
        detail=obj["detail"],
        summary=obj["summary"],
        data=data,
        timestamp=obj["timestamp"],
    )


def encode_control(message: dict[str, Any]) -> bytes:
    """A control line (``##IPC:{json}``) the emitter writes to the parent, e.g. on failover."""
    return CONTROL_MARKER + dumps_exact(message) + b"\n"


def decode_control(line: bytes) -> dict[str, Any]:
    body = line[len(CONTROL_MARKER) :].rstrip(b"\r\n")
    try:
        obj = loads_exact(body)
    except ValueError as exc:
        raise MalformedLine(f"invalid control JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedLine("control line is not a JSON object")
    return obj
