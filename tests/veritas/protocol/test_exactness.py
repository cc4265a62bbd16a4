"""Exactness: the comparison's digest is injective, and both wire forms round-trip any value.

Property tests whose strategies favour the hard cases: adjacent and lone surrogates, NUL,
U+2028/U+2029, BOM, non-characters, astral characters, megabyte strings, -0.0, NaN, huge
integers, ``bool`` next to ``int``, ``None`` next to a missing key, tuples next to lists.
"""

from __future__ import annotations

import asyncio
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veritas.diff.compare import canonical_bytes, canonical_digest
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent
from veritas.protocol.stdout_wire import decode_line, dumps_exact, encode_line

HARD_CHARS = [
    "\ud83d",
    "\ude00",
    "\ud800",
    "\udfff",
    "\x00",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\U0001f600",
    "\U0010ffff",
    "\\",
    '"',
    "\n",
    "\x85",
    "\u0301",
    "a",
]
PAIR = "\ud83d\ude00"  # two code points, not U+1F600
EMOJI = "\U0001f600"

#: Text of any code points, surrogates included, biased towards HARD_CHARS and the pair.
hard_text = st.lists(
    st.sampled_from(HARD_CHARS) | st.just(PAIR) | st.characters(exclude_categories=()),
    max_size=12,
).map("".join)
big_text = st.builds(
    lambda c, n: c * n, st.sampled_from([*HARD_CHARS, PAIR]), st.integers(0, 1 << 20)
)
any_text = hard_text | big_text.filter(lambda s: len(s) > 1000)
huge_ints = st.integers() | st.integers(min_value=-(2**300), max_value=2**300)
finite = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1.0])

#: What the protocol carries: JSON-native values, keys str, floats finite.
json_values = st.recursive(
    st.none() | st.booleans() | huge_ints | finite | hard_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hard_text, inner, max_size=4),
    max_leaves=25,
)
#: What a digest must tell apart beyond that: bytes, tuples, NaN, infinities, non-str keys.
digest_values = st.recursive(
    st.none() | st.booleans() | huge_ints | st.floats() | hard_text | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(hard_text | st.integers(-3, 3), inner, max_size=4)
    ),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    """Equality as protocol values: the reference the digest must agree with."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for ka, va in a.items():
            match = [kb for kb in b if same(ka, kb)]
            if len(match) != 1 or not same(va, b[match[0]]):
                return False
        return True
    return bool(a == b)


def look_alikes(value: Any) -> list[Any]:
    """Values that differ from *value* as protocol values but that a lossy form would merge."""
    out: list[Any] = []
    if isinstance(value, str):
        out.append(value + "\x00")
        if EMOJI in value:
            out.append(value.replace(EMOJI, PAIR, 1))
        if PAIR in value:
            out.append(value.replace(PAIR, EMOJI, 1))
    elif isinstance(value, bool):
        out += [int(value), str(value).lower()]
    elif isinstance(value, int):
        out.append(value + 1)
        if abs(value) < 2**53:
            out.append(float(value))
    elif isinstance(value, float):
        if value == 0:
            out.append(-value)
        elif math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
            out.append(int(value))
    elif value is None:
        out += [0, "", False, "null"]
    elif isinstance(value, list):
        out.append(tuple(value))
        out.append([*value, None])
    elif isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                out.append({k: v for k, v in value.items() if k != key})
            out += [{**value, key: alike} for alike in look_alikes(item)[:2]]
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(digest_values, digest_values)
def test_equal_digests_if_and_only_if_equal_values(a: Any, b: Any) -> None:
    assert (canonical_bytes(a) == canonical_bytes(b)) == same(a, b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(digest_values, st.randoms(use_true_random=False))
def test_look_alikes_get_other_digests_and_key_order_does_not_matter(value: Any, rnd: Any) -> None:
    for alike in look_alikes(value):
        assert not same(alike, value)
        assert canonical_digest(alike) != canonical_digest(value), (value, alike)
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        assert canonical_digest(dict(items)) == canonical_digest(value)


@pytest.mark.parametrize(
    "a, b",
    [
        (EMOJI, PAIR),
        ("\ud800", "\\ud800"),
        (1, 1.0),
        (1, True),
        (0.0, -0.0),
        ({"a": None}, {}),
        ([1, 2], (1, 2)),
        ({1: "x"}, {"1": "x"}),
        (b"ab", "ab"),
        ([[1], 2], [1, [2]]),
        (["ab"], ["a", "b"]),
    ],
)
def test_the_classic_collisions_are_told_apart(a: Any, b: Any) -> None:
    assert canonical_digest(a) != canonical_digest(b)


def test_nan_is_one_value_and_digests_do_not_crash_on_it() -> None:
    assert canonical_digest(float("nan")) == canonical_digest(float("-nan"))
    assert canonical_digest(float("inf")) != canonical_digest(float("-inf"))


def _event(detail: str, summary: dict[str, Any], data: bytes | None) -> ProgressEvent:
    return ProgressEvent("a", 1, "log", "scout", "s", 1.5, detail, summary, data, 2.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_text, st.dictionaries(hard_text, json_values, max_size=4), st.none() | st.binary())
def test_the_stdout_line_round_trips_every_protocol_value(
    detail: str, summary: dict[str, Any], data: bytes | None
) -> None:
    line = encode_line(_event(detail, summary, data))
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    back = decode_line(line)
    assert same(back.detail, detail) and same(back.summary, summary) and back.data == data


def test_the_adjacent_surrogates_survive_the_stdout_line() -> None:
    back = decode_line(encode_line(_event(PAIR, {PAIR: [PAIR, EMOJI]}, None)))
    assert [hex(ord(c)) for c in back.detail] == ["0xd83d", "0xde00"]
    assert same(back.summary, {PAIR: [PAIR, EMOJI]})


items = st.fixed_dictionaries(
    {
        "step": hard_text,
        "detail": any_text,
        "summary": st.dictionaries(hard_text, json_values, max_size=4),
        "data_hex": st.none() | st.binary(max_size=64).map(bytes.hex),
    }
)


def _deliver(values_file: Path, mode: str) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)

    runner = AuditRunner(f"synthetic:?values={values_file}", audit_id="x", mode=mode)  # type: ignore[arg-type]
    outcome = asyncio.run(runner.run(send))
    assert outcome.state == "completed", outcome.error
    # Which transport delivered the events, not only which mode was asked for.
    assert outcome.events_by_transport[mode] == len(events), outcome.events_by_transport
    return events


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(items, min_size=1, max_size=40))
def test_both_real_transports_deliver_every_value_exactly(
    tmp_path_factory: pytest.TempPathFactory, batch: list[dict[str, Any]]
) -> None:
    values_file = tmp_path_factory.mktemp("values") / "values.json"
    values_file.write_bytes(dumps_exact(batch))
    for mode in ("stdout", "queue"):
        events = _deliver(values_file, mode)[1:-1]  # between audit_start and audit_complete
        assert len(events) == len(batch)
        for event, item in zip(events, batch, strict=True):
            assert same(event.step, item["step"]) and same(event.detail, item["detail"])
            assert same(event.summary, item["summary"]), mode
            expected = None if item["data_hex"] is None else bytes.fromhex(item["data_hex"])
            assert event.data == expected


@pytest.mark.slow
def test_the_adjacent_surrogate_case_through_both_real_transports(tmp_path: Path) -> None:
    values_file = tmp_path / "values.json"
    values_file.write_bytes(
        dumps_exact([{"step": PAIR, "detail": PAIR + EMOJI, "summary": {"t": PAIR}}])
    )
    for mode in ("stdout", "queue"):
        (event,) = _deliver(values_file, mode)[1:-1]
        assert [hex(ord(c)) for c in event.detail] == ["0xd83d", "0xde00", "0x1f600"], mode
        assert event.summary == {"t": PAIR} and len(event.summary["t"]) == 2
