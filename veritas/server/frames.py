"""The WebSocket text frames of an audit: one per event, then the IPC outcome; and their
decoder, for a client that needs the audit back as it was sent (the harness).

An event frame is the event's fields (``veritas.protocol.event.FIELDS``) as one JSON object,
``data`` in base64. Text frames must be UTF-8, which cannot carry a surrogate code point, so
surrogates (a lone half that an engine emitted) are written as JSON ``\\uXXXX`` escapes and
everything else as UTF-8: an astral character travels as its UTF-8 bytes, a high and a low
surrogate emitted as two code points as two escapes. The frame therefore tells them apart;
``json.loads`` (and a browser's ``JSON.parse``, whose strings are UTF-16) would join the two
escapes into the astral character, so ``decode_frame`` reads every escape as one code point,
and the events it gives back equal the events sent.

The ``ipc_outcome`` frame carries DESIGN's fields (``mode_requested``, ``mode_used``,
``fallback``, ``fallback_reason``, ``events_by_transport``, ``transport_runs``) and the rest of
the run's outcome (``AuditOutcome.to_dict``: ``state``, ``exit_code``, ``duration_s``,
``ipc_faults``, ``malformed_lines``, ``latency``, ``stderr_tail``, ...), not its final state,
which is the ``audit_complete`` event's summary.
"""

from __future__ import annotations

import base64
import json
import json.decoder
import json.scanner
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from veritas.parent.outcome import AuditOutcome
from veritas.protocol.event import FIELDS, ProgressEvent

_SURROGATE = re.compile("[\ud800-\udfff]")
#: frame types that are not events
CONTROL_TYPES = ("ipc_outcome", "server_error")


def dumps_text(value: Any) -> str:
    """JSON text that is valid UTF-8 whatever strings *value* holds."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def event_frame(event: ProgressEvent) -> str:
    obj = event.as_dict()
    if event.data is not None:
        obj["data"] = base64.b64encode(event.data).decode("ascii")
    return dumps_text(obj)


def ipc_outcome(outcome: AuditOutcome) -> dict[str, Any]:
    """Which transport delivered the audit (DESIGN's ``ipc_outcome`` fields)."""
    return {
        **outcome.ipc_summary(),
        "transport_runs": [list(run) for run in outcome.transport_runs],
    }


def outcome_frame(outcome: AuditOutcome) -> str:
    return dumps_text({"type": "ipc_outcome", **outcome.to_dict(), **ipc_outcome(outcome)})


# -- decoding ----------------------------------------------------------------------------

_STRING_BODY = re.compile(r'([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
#: a high-surrogate escape right before a low-surrogate escape: what json.loads would join
_ESCAPED_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def _unescape(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return chr(int(match.group(1), 16))
    try:
        return _SIMPLE[match.group(2)]
    except KeyError:
        raise ValueError(f"invalid escape \\{match.group(2)!r} in a frame") from None


def _scanstring(s: str, end: int, strict: bool = True) -> tuple[str, int]:
    """A JSON string from *end* (after its opening quote), each ``\\uXXXX`` one code point."""
    match = _STRING_BODY.match(s, end)
    if match is None:
        raise json.JSONDecodeError("Unterminated string", s, end - 1)
    body = match.group(1)
    if "\\" in body:
        body = _ESCAPE.sub(_unescape, body)
    return body, match.end()


# The standard library's object parser (pure Python), reading its keys with ``_scanstring``.
_JSONObject = getattr(json.decoder, "JSONObject")  # noqa: B009 (not in the type stubs)
_parse_object = types.FunctionType(
    _JSONObject.__code__,
    {**vars(json.decoder), "scanstring": _scanstring},
    "JSONObject",
    _JSONObject.__defaults__,
)


class _ExactDecoder(json.JSONDecoder):
    def __init__(self) -> None:
        super().__init__()
        self.parse_string = _scanstring
        self.parse_object = _parse_object
        self.scan_once = getattr(json.scanner, "py_make_scanner")(self)  # noqa: B009


_EXACT = _ExactDecoder()


def loads_frame(text: str) -> Any:
    """The JSON value of a frame, as ``dumps_text`` was given it (surrogates kept apart)."""
    if _ESCAPED_PAIR.search(text) is None:
        return json.loads(text)  # nothing json.loads would join: the fast path
    return _EXACT.decode(text)


class FrameError(ValueError):
    pass


def decode_frame(text: str) -> ProgressEvent | dict[str, Any]:
    """An event frame as its ``ProgressEvent`` (``data`` decoded from base64); another frame
    (``ipc_outcome``, ``server_error``) as its JSON object."""
    obj = loads_frame(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise FrameError(f"frame {text[:120]!r} is not a JSON object with a type")
    if obj["type"] in CONTROL_TYPES:
        return cast(dict[str, Any], obj)
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        raise FrameError(f"event frame {text[:120]!r} lacks {', '.join(missing)}")
    fields = {name: obj[name] for name in FIELDS}
    if fields["data"] is not None:
        fields["data"] = base64.b64decode(fields["data"], validate=True)
    return ProgressEvent(**fields)


@dataclass(frozen=True)
class ReceivedOutcome:
    """A run's outcome as a client received it: the ``ipc_outcome`` frame, and the final state
    from the ``audit_complete`` event (what ``AuditOutcome`` offers ``observe``)."""

    fields: dict[str, Any]
    final_state: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.fields.items() if k != "type"}


def received_outcome(frame: dict[str, Any], events: Iterable[ProgressEvent]) -> ReceivedOutcome:
    final: dict[str, Any] | None = None
    for event in events:
        if event.type == "audit_complete":
            final = event.summary
    return ReceivedOutcome(dict(frame), final)
