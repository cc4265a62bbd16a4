"""The WebSocket text frames of an audit: one per event, then the IPC outcome.

An event frame is the event's fields (``veritas.protocol.event.FIELDS``) as one JSON object,
``data`` in base64. Text frames must be UTF-8, which cannot carry a surrogate code point, so
surrogates (a lone half that an engine emitted) are written as JSON ``\\uXXXX`` escapes and
everything else as UTF-8. Known limit of this boundary: a high and a low surrogate emitted as
two code points arrive as the one astral character they spell, as they do in any UTF-16
string (a browser's), and ``json.loads`` joins them too; the stdout and Queue wires keep
them apart.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from veritas.parent.outcome import AuditOutcome
from veritas.protocol.event import ProgressEvent

_SURROGATE = re.compile("[\ud800-\udfff]")


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
        "mode_requested": outcome.mode_requested,
        "mode_used": outcome.mode_used,
        "fallback": outcome.fallback,
        "fallback_reason": outcome.fallback_reason,
        "events_by_transport": dict(outcome.events_by_transport),
        "transport_runs": [list(run) for run in outcome.transport_runs],
    }


def outcome_frame(outcome: AuditOutcome) -> str:
    return dumps_text({"type": "ipc_outcome", **ipc_outcome(outcome), "state": outcome.state})
