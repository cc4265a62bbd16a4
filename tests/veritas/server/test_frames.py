"""The frames decode back to exactly what was sent: surrogates emitted as two code points stay
two (the frame carries them as two escapes), an astral character stays one, ``data`` is the
same bytes; the ``ipc_outcome`` frame carries the whole outcome but the final state."""

from __future__ import annotations

import json

import pytest

from veritas.parent.outcome import AuditOutcome
from veritas.protocol.event import ProgressEvent
from veritas.server.frames import (
    FrameError,
    decode_frame,
    event_frame,
    outcome_frame,
    received_outcome,
)

SPLIT = "\ud83d\ude00"  # a high and a low surrogate, two code points
ASTRAL = "\U0001f600"  # the character they spell, one code point


def event(**fields: object) -> ProgressEvent:
    base: dict[str, object] = {"audit_id": "case-a", "seq": 3, "type": "page", "phase": "scout"}
    return ProgressEvent(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "sent",
    [
        event(detail=f"a{SPLIT}b{ASTRAL}c\udc00", step="\ud800"),
        event(summary={f"k{SPLIT}": [SPLIT, ASTRAL, "\\ud83d\\ude00", {"\ud83d": 1.5}]}),
        event(type="screenshot", data=bytes(range(256)), pct=12.5, timestamp=1.0e9 + 0.123),
        event(detail='quote " backslash \\ nl \n tab \t nul \x00 / é'),
    ],
    ids=["split-surrogates", "in-keys-and-lists", "binary-data", "escapes"],
)
def test_an_event_frame_decodes_to_the_event_sent(sent: ProgressEvent) -> None:
    text = event_frame(sent)
    text.encode("utf-8")  # a valid text frame
    assert decode_frame(text) == sent


def test_json_loads_alone_would_join_the_surrogates() -> None:
    text = event_frame(event(detail=SPLIT))
    assert json.loads(text)["detail"] == ASTRAL  # why the decoder reads escapes one by one
    received = decode_frame(text)
    assert isinstance(received, ProgressEvent) and received.detail == SPLIT != ASTRAL


def test_the_outcome_frame_carries_the_outcome() -> None:
    outcome = AuditOutcome("case-a", "http://x.test/", "quick_scan", "queue", mode_used="queue",
                           state="completed", exit_code=0, duration_s=1.5, ipc_faults=["f"],
                           malformed_lines=2, latencies_ms=[1.0, 3.0], stderr_tail=["w\udcff"],
                           final_state={"score": 90})  # fmt: skip
    outcome.events_by_transport["queue"] = 2
    outcome.transport_runs.append(["queue", 0, 2])
    frame = decode_frame(outcome_frame(outcome))
    assert isinstance(frame, dict) and frame["type"] == "ipc_outcome"
    done = event(type="audit_complete", summary={"score": 90})
    received = received_outcome(frame, [event(), done])
    assert received.to_dict() == outcome.to_dict()
    assert received.final_state == {"score": 90}


def test_a_frame_that_is_not_an_event_is_refused() -> None:
    with pytest.raises(FrameError, match="lacks seq"):
        decode_frame('{"type": "page", "audit_id": "x"}')
    with pytest.raises(FrameError, match="not a JSON object with a type"):
        decode_frame("[1]")
