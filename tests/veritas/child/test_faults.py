"""The test-only fault injector: what each fault does to the Queue's stream."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from veritas.child.faults import FaultInjector, FaultSpecError, parse_fault
from veritas.pixels import pixel_digest
from veritas.protocol.event import ProgressEvent


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def stream() -> list[ProgressEvent]:
    return [
        ProgressEvent(
            "a",
            i,
            "screenshot" if i % 2 else "log",
            "vision",
            detail=f"d{i}",
            data=png() if i % 2 else None,
        )
        for i in range(8)
    ]


def run(spec: str, batches: tuple[slice, ...] = (slice(0, 3), slice(3, 8))) -> list[ProgressEvent]:
    fault = parse_fault(spec)
    assert fault is not None
    injector = FaultInjector(fault)
    events = stream()
    return [e for part in batches for e in injector.apply(events[part])]


def seqs(events: list[ProgressEvent]) -> list[int]:
    return [e.seq for e in events]


def test_drop_dup_swap_across_batches() -> None:
    assert seqs(run("drop@4")) == [0, 1, 2, 3, 5, 6, 7]
    assert seqs(run("dup@4")) == [0, 1, 2, 3, 4, 4, 5, 6, 7]
    assert seqs(run("swap@2")) == [0, 1, 3, 2, 4, 5, 6, 7]  # K and K+1 in different batches


def test_char_pixel_truncate_change_exactly_one_thing() -> None:
    original = stream()
    assert [e.detail for e in run("char@3")] == [e.detail if e.seq != 3 else "e3" for e in original]
    pixel = run("pixel@1")  # the second event with data: seq 3
    assert pixel_digest(pixel[3].data or b"") != pixel_digest(original[3].data or b"")
    assert [e.data for i, e in enumerate(pixel) if i != 3] == [
        e.data for e in original if e.seq != 3
    ]
    truncated = run("truncate@0")
    assert len(truncated[1].data or b"") == len(original[1].data or b"") // 2


@pytest.mark.parametrize("raw", ["explode@1", "drop", "drop@x", "dup@-1", "split", "split@"])
def test_bad_fault_specs_are_clear_errors(raw: str) -> None:
    with pytest.raises(FaultSpecError, match="VERITAS_IPC_FAULT"):
        parse_fault(raw)


def test_split_writes_astral_characters_as_surrogate_halves_from_event_k_on() -> None:
    text = "\U0001f600 \U0001d518\U0002000b é \uffff"
    halves = "\ud83d\ude00 \ud835\udd18\ud840\udc0b é \uffff"
    events = [
        ProgressEvent(
            "a",
            i,
            "log",
            "scout",
            step=f"s{text}",
            detail=text,
            summary={text: [text, {"k": (text, 1)}], "n": 1.5, "none": None},
        )
        for i in range(4)
    ]
    fault = parse_fault("split@2")
    assert fault is not None
    injector = FaultInjector(fault)
    out = injector.apply(events[:1]) + injector.apply(events[1:])
    assert out[:2] == events[:2]
    for event in out[2:]:
        assert (event.step, event.detail) == (f"s{halves}", halves)
        assert event.summary == {halves: [halves, {"k": (halves, 1)}], "n": 1.5, "none": None}
    # Read as UTF-16 code units, the corrupted text is the original.
    assert halves.encode("utf-16-le", "surrogatepass").decode("utf-16-le") == text


def test_split_leaves_text_without_astral_characters_alone() -> None:
    fault = parse_fault("split@0")
    assert fault is not None
    assert FaultInjector(fault).apply(stream()) == stream()
