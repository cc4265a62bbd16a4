"""Normalization, pixel digests, hash-first comparison and verdicts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

import veritas.diff.compare as compare
from veritas.diff.masking import IgnoreRule
from veritas.diff.normalize import Normalizer
from veritas.diff.observation import Observation, observe
from veritas.diff.pixeldiff import pixel_diff
from veritas.diff.verdict import judge
from veritas.parent.outcome import AuditOutcome
from veritas.pixels import pixel_digest
from veritas.protocol.event import ProgressEvent


def png(
    color: tuple[int, int, int] = (10, 20, 30),
    size: tuple[int, int] = (40, 30),
    dot: tuple[int, int] | None = None,
    **save: Any,
) -> bytes:
    image = Image.new("RGB", size, color)
    if dot is not None:
        image.putpixel(dot, (255, 0, 0))
    buf = io.BytesIO()
    image.save(buf, format="PNG", **save)
    return buf.getvalue()


def test_pixel_digest_ignores_encoding_but_not_pixels() -> None:
    a, b = png(compress_level=0), png(compress_level=9, optimize=True)
    assert a != b and pixel_digest(a) == pixel_digest(b)
    assert pixel_digest(png(dot=(5, 5))) != pixel_digest(a)
    assert pixel_digest(png(size=(41, 30))) != pixel_digest(a)


def test_cached_pixel_digest_agrees_and_still_sees_one_pixel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from veritas.diff import observation

    decoded: list[bytes] = []

    def counting_digest(data: bytes) -> str:
        decoded.append(data)
        return pixel_digest(data)

    monkeypatch.setattr(observation, "pixel_digest", counting_digest)
    monkeypatch.setattr(observation, "_PIXEL_DIGESTS", {})
    a, changed = png(), png(dot=(3, 4))
    assert observation.cached_pixel_digest(a) == pixel_digest(a)
    assert observation.cached_pixel_digest(bytes(a)) == pixel_digest(a)
    assert observation.cached_pixel_digest(changed) == pixel_digest(changed) != pixel_digest(a)
    assert len(decoded) == 2  # the repeat of *a* was not decoded again


def test_pixel_diff_boxes_the_changed_pixel() -> None:
    diff = pixel_diff(png(), png(dot=(7, 9)))
    assert diff.bbox == (7, 9, 8, 10) and diff.changed_pixels == 1
    assert diff.diff_png is not None and pixel_digest(diff.diff_png)
    assert pixel_diff(png(), png(size=(10, 10))).bbox is None


def test_normalizer_removes_only_named_volatile_things() -> None:
    n = Normalizer()
    events = n.events(
        [
            {
                "timestamp": 1.5,
                "type": "log",
                "summary": {
                    "duration_ms": 12,
                    "pid": 4242,
                    "path": "/tmp/veritas-x/page.html",
                    "count": 3,
                    "durations": "kept: not a number key match",
                    "text": "pid 4242 stays",
                },
            }
        ]
    )
    assert events == [
        {
            "type": "log",
            "summary": {
                "duration_ms": "<duration>",
                "pid": "<pid>",
                "path": "<tmp>",
                "count": 3,
                "durations": "kept: not a number key match",
                "text": "pid 4242 stays",
            },
        }
    ]
    assert n.counts == {"event-timestamp": 1, "durations": 1, "temp-paths": 1, "process-ids": 1}


def test_canonical_digest_is_order_independent_for_keys_only() -> None:
    assert compare.canonical_digest({"a": 1, "b": [1, 2]}) == compare.canonical_digest(
        {"b": [1, 2], "a": 1}
    )
    assert compare.canonical_digest([1, 2]) != compare.canonical_digest([2, 1])


def stream(detail: str = "ok", shot: bytes | None = None, n: int = 6) -> list[ProgressEvent]:
    events = [ProgressEvent("case", 0, "audit_start", "init", detail="start", timestamp=1.0)]
    for i in range(1, n - 1):
        events.append(
            ProgressEvent(
                "case",
                i,
                "log",
                "scout",
                step=f"s{i}",
                detail=detail if i == 3 else "x",
                timestamp=1.0 + i,
            )
        )
    if shot is not None:
        events.append(
            ProgressEvent(
                "case",
                n - 1,
                "screenshot",
                "vision",
                summary={"label": "page1-desktop"},
                data=shot,
                timestamp=9.0,
            )
        )
    events.append(
        ProgressEvent(
            "case", len(events), "audit_complete", "complete", summary={"score": 90}, timestamp=10.0
        )
    )
    return events


def obs(events: list[ProgressEvent], transport: str, **outcome: Any) -> Observation:
    o = AuditOutcome("case", "http://x/", "quick_scan", mode_requested=transport, state="completed")
    o.events_by_transport = {"queue": 0, "stdout": 0, transport: len(events)}
    o.final_state = events[-1].summary
    for key, value in outcome.items():
        setattr(o, key, value)
    return observe(o, events)


def test_equal_streams_match_without_running_deepdiff() -> None:
    before = compare.DEEPDIFF_CALLS
    result = judge(
        obs(stream(shot=png()), "stdout"), obs(stream(shot=png(compress_level=1)), "queue")
    )
    assert result.verdict == "match"
    assert before == compare.DEEPDIFF_CALLS


def test_forced_mismatch_names_the_first_difference() -> None:
    result = judge(obs(stream(), "stdout"), obs(stream(detail="changed"), "queue"))
    assert result.verdict == "mismatch"
    assert result.difference is not None and result.difference.index == 3
    assert result.difference.type == "log" and result.difference.phase == "scout"
    assert result.difference.paths[0]["path"] == "events[3]['detail']"
    assert (result.difference.paths[0]["left"], result.difference.paths[0]["right"]) == (
        "ok",
        "changed",
    )


def test_one_changed_pixel_is_a_mismatch() -> None:
    result = judge(obs(stream(shot=png()), "stdout"), obs(stream(shot=png(dot=(1, 1))), "queue"))
    assert result.verdict == "mismatch"
    assert "pixel_digest" in result.difference.paths[0]["path"]  # type: ignore[union-attr]


def test_unattested_queue_run_is_inconclusive() -> None:
    fell_back = obs(stream(), "stdout")
    fell_back.outcome["attested_transport"] = "stdout"
    result = judge(obs(stream(), "stdout"), fell_back)
    assert result.verdict == "inconclusive" and "not attested" in result.reasons[0]


def test_ipc_fault_is_a_mismatch_even_when_streams_agree() -> None:
    faulty = obs(stream(), "queue", ipc_faults=["duplicate seq 2 over queue"])
    assert judge(obs(stream(), "stdout"), faulty).verdict == "mismatch"


@pytest.mark.parametrize("state", ["timeout", "crashed"])
def test_timeout_and_crash_are_inconclusive(state: str) -> None:
    assert (
        judge(obs(stream(), "stdout"), obs(stream(), "queue", state=state)).verdict
        == "inconclusive"
    )


RULE = IgnoreRule(
    name="token", reason="random per request", paths=("events[*].detail",), pattern="tok-[0-9]+"
)


def test_nondeterminism_is_inconclusive_without_its_rule_and_ignored_with_it() -> None:
    control, noise = obs(stream(detail="tok-1"), "stdout"), obs(stream(detail="tok-2"), "stdout")
    candidate = obs(stream(detail="tok-3"), "queue")
    without = judge(control, candidate, [noise])
    assert without.verdict == "inconclusive" and "noise" in without.reasons[0]
    with_rule = judge(control, candidate, [noise], [RULE])
    assert with_rule.verdict == "ignored" and with_rule.ignored_by == ["token"]


def test_a_rule_does_not_hide_a_real_difference_elsewhere() -> None:
    control = obs(stream(detail="tok-1"), "stdout")
    other = stream(detail="tok-2")
    other[1].detail = "tampered"
    result = judge(control, obs(other, "queue"), [], [RULE])
    assert (
        result.verdict == "mismatch"
        and result.difference is not None
        and result.difference.index == 1
    )


@dataclass
class _Rule:
    name: str = "none"
    reason: str = "no reason"

    def apply(self, doc: Any) -> tuple[Any, int]:
        return doc, 0


def test_unused_rules_do_not_turn_a_mismatch_into_ignored() -> None:
    result = judge(obs(stream(), "stdout"), obs(stream(detail="x2"), "queue"), [], [_Rule()])
    assert result.verdict == "mismatch"


def shot_stream(captured: bytes, delivered: bytes) -> list[ProgressEvent]:
    """A stream whose screenshot carries the child's own digest of *captured* pixels."""
    events = stream(shot=delivered)
    events[-2].summary = {"label": "page1-desktop", "digest": pixel_digest(captured)}
    return events


def test_a_change_of_one_in_one_channel_is_counted_with_its_box() -> None:
    image = Image.new("RGB", (40, 30), (100, 100, 100))
    changed = image.copy()
    changed.putpixel((7, 5), (100, 101, 100))
    diff = pixel_diff(png_of(image), png_of(changed))
    assert (diff.changed_pixels, diff.bbox) == (1, (7, 5, 8, 6))
    assert diff.describe() == "1 pixel differs within x 7–7, y 5–5 (box 1×1)"
    assert pixel_diff(png_of(image), png_of(image)).describe() == "no pixel differs"


def test_the_pixel_digest_is_of_what_is_seen_not_of_the_mode() -> None:
    image = Image.new("RGB", (20, 10), (10, 200, 30))
    assert pixel_digest(png_of(image)) == pixel_digest(png_of(image.convert("RGBA")))
    other = image.copy()
    other.putpixel((0, 0), (10, 200, 31))
    assert pixel_digest(png_of(image)) != pixel_digest(png_of(other))


def test_pixels_changed_in_transit_are_a_mismatch_of_that_transport() -> None:
    a, b = png(), png(color=(1, 2, 4))
    result = judge(obs(shot_stream(a, a), "stdout"), obs(shot_stream(a, b), "queue"))
    assert result.verdict == "mismatch"
    assert "Queue run: screenshot 'page1-desktop' arrived with other pixels" in result.reasons[0]


def test_captures_that_diverged_in_the_child_are_inconclusive_not_a_mismatch() -> None:
    a, b = png(), png(color=(1, 2, 4))
    result = judge(obs(shot_stream(a, a), "stdout"), obs(shot_stream(b, b), "queue"))
    assert result.verdict == "inconclusive"
    assert "captures diverged in the child" in result.reasons[0]
    assert "page1-desktop" in result.reasons[0]
    # Another difference besides the capture is still the transport's.
    other = shot_stream(b, b)
    other[3].detail = "changed"
    assert judge(obs(shot_stream(a, a), "stdout"), obs(other, "queue")).verdict == "mismatch"


def test_validate_ipc_calls_two_failed_audits_inconclusive() -> None:
    from veritas.diff.verdict import judge_pair

    failed = stream()
    failed[-1] = ProgressEvent("case", 5, "audit_error", "scout", detail="refused", timestamp=9.0)
    result = judge_pair(
        obs(failed, "stdout", state="failed", error="connection refused"),
        obs(failed, "queue", state="failed", error="connection refused"),
    )
    assert result.verdict == "inconclusive"
    assert result.reasons == [
        "both audits failed (connection refused): there was no audit to compare"
    ]


def png_of(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
