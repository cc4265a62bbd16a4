"""The checks of ``harness failover``: each way a failover can lose or bend the stream fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.corpus.cases import Case, Expectations
from harness.tools.failover import _check, passed
from veritas.diff.observation import Observation, observe
from veritas.parent.outcome import AuditOutcome
from veritas.protocol.event import ProgressEvent

CASE = Case(
    id="c",
    source=Path("c.yaml"),
    tier="quick_scan",
    tags=("t",),
    site=None,
    path="/",
    url="http://x/",
    file=None,
    description="",
    expect=Expectations(),
    ignore=(),
    timeout=60.0,
    failover=False,
)


def events(n: int) -> list[ProgressEvent]:
    out = [ProgressEvent("c", 0, "audit_start", "init")]
    out += [ProgressEvent("c", i, "progress", "fetch", detail=f"step {i}") for i in range(1, n - 1)]
    out.append(ProgressEvent("c", n - 1, "audit_complete", "complete", summary={"ok": True}))
    return out


def observation(
    evs: list[ProgressEvent],
    by: dict[str, int],
    fallback: bool,
    runs: list[list[object]] | None = None,
    replayed: int = 0,
) -> Observation:
    o = AuditOutcome("c", "http://x/", "quick_scan", mode_requested="queue", state="completed")
    o.events_by_transport = by
    k = by["queue"]
    o.transport_runs = (
        runs
        if runs is not None
        else [r for r in (["queue", 0, k], ["stdout", k, len(evs) - k]) if r[2]]
    )
    o.replayed = replayed
    o.fallback = fallback
    o.mode_used = "queue+stdout" if fallback else "queue"
    o.final_state = evs[-1].summary
    return observe(o, evs)


@pytest.fixture
def control() -> Observation:
    o = AuditOutcome("c", "http://x/", "quick_scan", mode_requested="stdout", state="completed")
    o.events_by_transport = {"queue": 0, "stdout": 10}
    o.final_state = {"ok": True}
    return observe(o, events(10))


def test_a_clean_failover_passes(control: Observation) -> None:
    row = _check(CASE, 4, control, observation(events(10), {"queue": 4, "stdout": 6}, True))
    assert row["ok"], row["problems"]


def test_a_lost_event_fails(control: Observation) -> None:
    evs = events(10)
    del evs[5]
    row = _check(CASE, 4, control, observation(evs, {"queue": 4, "stdout": 5}, True))
    assert not row["ok"]
    assert any("seq has a gap" in p for p in row["problems"])
    assert any("9 events" in p for p in row["problems"])
    # and what it takes to tell a lost event from an audit that went another way:
    assert any(p.startswith("first divergence at event #5") for p in row["problems"])
    assert row["problems"][-1] == (
        "cut run: state completed, exit code None, last event audit_complete ''; "
        "stdout-only run's last event audit_complete"
    )


def test_a_repeated_event_fails(control: Observation) -> None:
    evs = events(10)
    evs.insert(5, dataclasses.replace(evs[4]))
    row = _check(CASE, 4, control, observation(evs, {"queue": 5, "stdout": 6}, True))
    assert not row["ok"] and row["verdict"] == "mismatch"


def test_a_wrong_split_between_transports_fails(control: Observation) -> None:
    row = _check(CASE, 4, control, observation(events(10), {"queue": 10, "stdout": 0}, True))
    assert not row["ok"]
    assert any("expected queue 4 and stdout 6" in p for p in row["problems"])


def test_events_on_the_wrong_transport_fail(control: Observation) -> None:
    runs: list[list[object]] = [["stdout", 0, 2], ["queue", 2, 4], ["stdout", 6, 4]]
    row = _check(CASE, 4, control, observation(events(10), {"queue": 4, "stdout": 6}, True, runs))
    assert not row["ok"]
    assert any("transport runs" in p for p in row["problems"])


def test_events_delivered_twice_fail_even_when_merged_away(control: Observation) -> None:
    cut = observation(events(10), {"queue": 4, "stdout": 6}, True, replayed=2)
    row = _check(CASE, 4, control, cut)
    assert not row["ok"]
    assert any("2 events came twice" in p for p in row["problems"])


def test_a_failover_that_was_not_recorded_fails(control: Observation) -> None:
    row = _check(CASE, 4, control, observation(events(10), {"queue": 4, "stdout": 6}, False))
    assert not row["ok"]


def test_passed_needs_every_point_and_every_metrics_record() -> None:
    good = {"points": 3, "ok": 3, "metrics_fallbacks": 3, "metrics_reasons_ok": 3}
    assert passed(good)
    assert not passed({**good, "ok": 2})
    assert not passed({**good, "metrics_fallbacks": 2})
    assert not passed({**good, "metrics_reasons_ok": 2})
