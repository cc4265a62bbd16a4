from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veritas.protocol.event import (
    EventError,
    ProgressEvent,
    _json_native,
    check_json_value,
    validate_event,
)
from veritas.protocol.stdout_wire import MARKER, MalformedLine, decode_line, encode_line

TRICKY = "🛒 שלום مرحبا 日本語 é\u0301 z\u200bw \u2028\u2029 nul\x00 lone\ud800 \udfff end"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _event(**kw: object) -> ProgressEvent:
    base: dict[str, object] = dict(audit_id="a1", seq=3, type="finding", phase="vision")
    base.update(kw)
    return ProgressEvent(**base)  # type: ignore[arg-type]


def test_round_trip_of_tricky_unicode_keeps_every_code_point() -> None:
    event = _event(detail=TRICKY, summary={TRICKY: [TRICKY, 1, 2.5, None, True]}, data=b"\x00\xff")
    line = encode_line(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1, "U+2028 and NUL must not split a line"
    assert line.decode("utf-8", "surrogatepass").count("\n") == 1  # bytes, never platform text
    assert decode_line(line) == event


@given(
    detail=st.text(),
    summary=st.dictionaries(st.text(), json_values, max_size=5),
    data=st.none() | st.binary(max_size=64),
    pct=st.floats(min_value=0, max_value=100),
    seq=st.integers(min_value=0, max_value=2**40),
    timestamp=st.floats(allow_nan=False, allow_infinity=False),
)
def test_round_trip_property(
    detail: str,
    summary: dict[str, object],
    data: bytes | None,
    pct: float,
    seq: int,
    timestamp: float,
) -> None:
    event = _event(detail=detail, summary=summary, data=data, pct=pct, seq=seq, timestamp=timestamp)
    assert decode_line(encode_line(event)) == event


def test_lines_of_several_megabytes_round_trip() -> None:
    big = _event(type="screenshot", data=bytes(range(256)) * 20_000, detail="x" * 3_000_000)
    line = encode_line(big)
    assert len(line) > 8_000_000
    assert decode_line(line) == big


@pytest.mark.parametrize(
    "line, message",
    [
        (MARKER + b"{not json", "invalid JSON"),
        (MARKER + b"[1,2]", "exactly the event fields"),
        (MARKER + json.dumps({"seq": 1}).encode(), "exactly the event fields"),
        (b"PROGRESS:{}", "does not start"),
        (MARKER + b"\xff\xfe", "invalid JSON"),
    ],
)
def test_malformed_lines_raise_malformed_line(line: bytes, message: str) -> None:
    with pytest.raises(MalformedLine, match=message):
        decode_line(line)


def test_bad_field_types_are_malformed() -> None:
    good = json.loads(encode_line(_event())[len(MARKER) :])
    for field, bad in [("seq", -1), ("seq", "1"), ("data", "!!"), ("summary", []), ("type", 3)]:
        obj = dict(good, **{field: bad})
        with pytest.raises(MalformedLine):
            decode_line(MARKER + json.dumps(obj).encode())


@pytest.mark.parametrize(
    "value, fragment",
    [
        ((1, 2), "tuple"),
        ({1: "a"}, "key 1"),
        (float("nan"), "not finite"),
        ({"a": {b"x"}}, "set"),
        ([b"bytes"], "bytes"),
    ],
)
def test_non_json_values_are_rejected(value: object, fragment: str) -> None:
    with pytest.raises(EventError, match=fragment):
        check_json_value({"v": value})


def test_validate_event_names_what_is_accepted() -> None:
    with pytest.raises(EventError, match="accepted"):
        validate_event(_event(type="bogus"))
    with pytest.raises(EventError, match=r"phase 'No-where' is not a phase identifier"):
        validate_event(_event(phase="No-where"))
    validate_event(_event(phase="an_engines_own_phase"))  # any engine's identifiers
    with pytest.raises(EventError, match="pct"):
        validate_event(_event(pct=101))


def test_fields_are_defined_once_and_every_form_follows_them() -> None:
    import dataclasses

    from veritas.protocol.event import FIELDS

    assert tuple(f.name for f in dataclasses.fields(ProgressEvent)) == FIELDS
    event = _event(detail="d", summary={"k": 1}, data=b"x")
    assert tuple(event.as_dict()) == FIELDS
    assert event.as_tuple() == tuple(getattr(event, name) for name in FIELDS)


class _Str(str):
    pass


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats()
    | st.builds(_Str, st.text()) | st.tuples(st.integers()),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text() | st.integers(), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(_values)
def test_the_fast_check_never_accepts_what_the_general_check_refuses(value: object) -> None:
    try:
        check_json_value(value)
        accepted = True
    except EventError:
        accepted = False
    if _json_native(value):
        assert accepted
    event = ProgressEvent("a", 0, "log", "scout", summary={"v": value})
    if accepted:
        validate_event(event)
    else:
        with pytest.raises(EventError):
            validate_event(event)


def test_a_new_phase_is_checked_once_and_a_bad_one_every_time() -> None:
    validate_event(ProgressEvent("a", 0, "log", "fetch_2"))
    validate_event(ProgressEvent("a", 1, "log", "fetch_2"))
    for _ in range(2):
        with pytest.raises(EventError, match="'Fetch' is not a phase identifier"):
            validate_event(ProgressEvent("a", 2, "log", "Fetch"))
