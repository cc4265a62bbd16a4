"""The event protocol: ``ProgressEvent``, the one shape that crosses the process boundary.

This module runs in both processes and imports only the standard library, so that the
child-side emitter stays importable on its own. Its two wire forms live beside it:
``stdout_wire`` (marker lines) and ``queue_wire`` (framed pickled batches).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

#: The tiers an audit request may name (their page budgets are the engine's).
TIERS: Final = ("quick_scan", "standard_audit", "deep_forensic")

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
#: The bundled engine's phases. Another engine names its own (``PHASE_PATTERN``).
PHASES: Final = frozenset({"init", "scout", "security", "vision", "graph", "judge", "complete"})
#: What a phase identifier may be, for any engine.
PHASE_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
#: Types after which the child emits nothing more.
TERMINAL_TYPES: Final = frozenset({"audit_complete", "audit_error"})

#: The event's fields, in order: the one definition every reader and writer uses.
FIELDS: Final = (
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
        """A new event as an ``emit`` makes it: timestamped now."""
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
        """Positional form used by the Queue wire (cheaper to pickle than the object).

        In ``FIELDS`` order; spelled out because it runs once per event on the hot path.
        """
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

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in ``FIELDS`` order (``data`` as it is: bytes or None)."""
        return dict(zip(FIELDS, self.as_tuple(), strict=True))


class Emit(Protocol):
    """How audit code reports progress: ``emit(type, phase, …)``, one event a call. An engine
    and a synthetic stream are given one; the child's emitter (``Emitter.emit``) and the
    in-process ``ListSink.emit`` are the two that send or keep the events."""

    def __call__(
        self,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> object: ...


class EventError(ValueError):
    """An event that breaks the protocol (bad type, phase or non-JSON summary)."""


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


def _json_native(value: Any) -> bool:
    """True if *value* is JSON-native by exact type: the common case, checked without building
    a path per item. False means "look closer": ``check_json_value`` decides (a subclass of
    a native type is accepted there) and names what is wrong."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return bool(value - value == 0.0)  # False for inf and nan
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if not (kind is str or kind is int or kind is bool or item is None) and not (
                item - item == 0.0 if kind is float else _json_native(item)
            ):
                return False
        return True
    if kind is list:
        for item in value:
            kind = type(item)
            if not (kind is str or kind is int or kind is bool or item is None) and not (
                item - item == 0.0 if kind is float else _json_native(item)
            ):
                return False
        return True
    return False


#: Phase identifiers already checked against ``PHASE_PATTERN`` (bounded: an engine names few).
_CHECKED_PHASES: set[str] = set(PHASES)
_CHECKED_PHASES_MAX = 1024


def validate_event(event: ProgressEvent) -> None:
    """Raise EventError if *event* is not a well-formed protocol event.

    Runs once per event on the emitting path, so the usual event (exact builtin types, a
    phase seen before) is checked by identity and set lookups; anything else takes the
    general checks, which accept the same values and name what is wrong.
    """
    if event.type not in EVENT_TYPES:
        raise EventError(f"event type {event.type!r} unknown; accepted: {sorted(EVENT_TYPES)}")
    phase = event.phase
    if type(phase) is not str or phase not in _CHECKED_PHASES:
        if not isinstance(phase, str) or not PHASE_PATTERN.fullmatch(phase):
            raise EventError(
                f"event phase {phase!r} is not a phase identifier; accepted: "
                "[a-z][a-z0-9_]* (the bundled engine's: " + ", ".join(sorted(PHASES)) + ")"
            )
        if type(phase) is str and len(_CHECKED_PHASES) < _CHECKED_PHASES_MAX:
            _CHECKED_PHASES.add(phase)
    pct = event.pct
    if not ((type(pct) is float or type(pct) is int) and 0 <= pct <= 100) and (
        not isinstance(pct, (int, float)) or not 0 <= pct <= 100
    ):
        raise EventError(f"event pct {pct!r} out of range; accepted: 0 to 100")
    data = event.data
    if data is not None and type(data) is not bytes and not isinstance(data, bytes):
        raise EventError(f"event data is {type(data).__name__}, expected bytes or None")
    summary = event.summary
    if type(summary) is not dict and not isinstance(summary, dict):
        raise EventError(f"event summary is {type(summary).__name__}, expected dict")
    if not _json_native(summary):
        check_json_value(summary)


def check_order(last_type: str | None, event_type: str) -> None:
    """Raise EventError unless an event of *event_type* may follow one of *last_type* (None:
    it would be the first): an audit begins with ``audit_start`` and ends with one
    ``audit_complete`` or ``audit_error``, after which nothing follows."""
    if last_type is None:
        if event_type != "audit_start":
            raise EventError(f"first event is {event_type!r}; an audit begins with 'audit_start'")
    elif last_type in TERMINAL_TYPES:
        raise EventError(
            f"event {event_type!r} after {last_type!r}; nothing follows an audit's end"
        )
    elif event_type == "audit_start":
        raise EventError("a second 'audit_start'; an audit begins once")
