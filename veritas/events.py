"""The event protocol: ``ProgressEvent`` and its stdout line codec (DESIGN.md §3).

This module runs in both processes. It imports only the standard library so that the
child-side emitter stays importable on its own.

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
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

MARKER: Final = b"##PROGRESS:"
#: A control line from the child's emitter (not an event): announces a Queue failover.
CONTROL_MARKER: Final = b"##IPC:"

EVENT_TYPES: Final = frozenset(
    {
        "audit_start",
        "phase_start",
        "phase_complete",
        "phase_error",
        "finding",
        "screenshot",
        "log",
        "audit_complete",
        "audit_error",
    }
)
PHASES: Final = frozenset({"init", "scout", "security", "vision", "graph", "judge", "complete"})
#: Types after which the child emits nothing more.
TERMINAL_TYPES: Final = frozenset({"audit_complete", "audit_error"})

_FIELDS: Final = (
    "audit_id",
    "seq",
    "type",
    "phase",
    "step",
    "pct",
    "detail",
    "summary",
    "data",
    "timestamp",
)


@dataclass(slots=True)
class ProgressEvent:
    """The only thing that crosses the process boundary, in either transport."""

    audit_id: str
    seq: int
    type: str
    phase: str
    step: str = ""
    pct: float = 0.0
    detail: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    timestamp: float = 0.0

    @classmethod
    def stamped(
        cls,
        audit_id: str,
        seq: int,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> ProgressEvent:
        """A new event as an ``EventSink.emit`` makes it: timestamped now."""
        return cls(
            audit_id,
            seq,
            type,
            phase,
            step,
            pct,
            detail,
            {} if summary is None else summary,
            data,
            time.time(),
        )

    def as_tuple(self) -> tuple[Any, ...]:
        """Positional form used by the Queue wire (cheaper to pickle than the object)."""
        return (
            self.audit_id,
            self.seq,
            self.type,
            self.phase,
            self.step,
            self.pct,
            self.detail,
            self.summary,
            self.data,
            self.timestamp,
        )


class EventSink(Protocol):
    """What audit code calls to report progress (implemented by the child's emitter)."""

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
    ) -> ProgressEvent: ...


class EventError(ValueError):
    """An event that breaks the protocol (bad type, phase or non-JSON summary)."""


class MalformedLine(ValueError):
    """A ``##PROGRESS:`` line that does not decode to an event."""


def check_json_value(value: Any, path: str = "summary") -> None:
    """Reject anything that JSON would not carry unchanged.

    Both transports must deliver the same value: pickle keeps tuples, int keys and NaN,
    JSON does not. Requiring JSON-native values in every mode keeps them equal.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(f"{path}: {value!r} is not finite; JSON cannot carry it")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_json_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"{path}: key {key!r} is {type(key).__name__}, expected str")
            check_json_value(item, f"{path}.{key}")
        return
    raise EventError(
        f"{path}: {type(value).__name__} is not JSON-native "
        "(accepted: dict with str keys, list, str, int, finite float, bool, None)"
    )


def validate_event(event: ProgressEvent) -> None:
    """Raise EventError if *event* is not a well-formed protocol event."""
    if event.type not in EVENT_TYPES:
        raise EventError(f"event type {event.type!r} unknown; accepted: {sorted(EVENT_TYPES)}")
    if event.phase not in PHASES:
        raise EventError(f"event phase {event.phase!r} unknown; accepted: {sorted(PHASES)}")
    if not isinstance(event.pct, (int, float)) or not 0 <= event.pct <= 100:
        raise EventError(f"event pct {event.pct!r} out of range; accepted: 0 to 100")
    if event.data is not None and not isinstance(event.data, bytes):
        raise EventError(f"event data is {type(event.data).__name__}, expected bytes or None")
    if not isinstance(event.summary, dict):
        raise EventError(f"event summary is {type(event.summary).__name__}, expected dict")
    check_json_value(event.summary)


def dumps_exact(value: Any, *, allow_nan: bool = False) -> bytes:
    """JSON bytes that decode (with :func:`loads_exact`) to exactly *value*, surrogates included."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=allow_nan, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def loads_exact(raw: bytes) -> Any:
    """The inverse of :func:`dumps_exact`; ValueError (or UnicodeDecodeError) on bad input."""
    return json.loads(raw.decode("utf-8", "surrogatepass"))


def encode_line(event: ProgressEvent) -> bytes:
    """The stdout wire form of *event*: one line ending in ``\\n``."""
    obj = {
        "audit_id": event.audit_id,
        "seq": event.seq,
        "type": event.type,
        "phase": event.phase,
        "step": event.step,
        "pct": event.pct,
        "detail": event.detail,
        "summary": event.summary,
        "data": None if event.data is None else base64.b64encode(event.data).decode("ascii"),
        "timestamp": event.timestamp,
    }
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
    if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
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
