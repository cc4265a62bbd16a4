"""AuditRunner end to end, across real child processes (synthetic streams)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import psutil
import pytest

from veritas.engine.synthetic import UNICODE_SAMPLE
from veritas.parent.metrics import MetricsStore
from veritas.parent.outcome import AuditOutcome
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent

STREAM = "synthetic:?events=120&png=4&unicode=1"


def run(url: str, **kw: object) -> tuple[AuditOutcome, list[ProgressEvent]]:
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)

    outcome = asyncio.run(AuditRunner(url, audit_id="t", **kw).run(send))  # type: ignore[arg-type]
    return outcome, events


def comparable(events: list[ProgressEvent]) -> list[tuple[object, ...]]:
    return [e.as_tuple()[:-1] for e in events]  # everything but the timestamp


def test_stdout_mode_delivers_everything_over_stdout() -> None:
    outcome, events = run(STREAM, mode="stdout")
    assert outcome.state == "completed" and outcome.exit_code == 0
    assert outcome.events_by_transport == {"queue": 0, "stdout": 120}
    assert outcome.attested_transport == "stdout"
    assert [e.seq for e in events] == list(range(120))
    assert events[0].detail == UNICODE_SAMPLE


def test_queue_mode_delivers_everything_over_the_queue() -> None:
    outcome, events = run(STREAM, mode="queue")
    assert outcome.events_by_transport == {"queue": 120, "stdout": 0}
    assert outcome.attested_transport == "queue" and outcome.mode_used == "queue"
    assert not outcome.fallback and outcome.ipc_faults == []
    assert [e.seq for e in events] == list(range(120))


def test_both_transports_deliver_identical_streams() -> None:
    (_, a), (_, b) = run(STREAM, mode="stdout"), run(STREAM, mode="queue")
    assert comparable(a) == comparable(b)
    assert sum(1 for e in b if e.type == "screenshot" and e.data) == 4


def test_queue_backpressure_with_tiny_maxsize_loses_nothing() -> None:
    outcome, events = run("synthetic:?events=3000", mode="queue", maxsize=4)
    assert outcome.events_by_transport == {"queue": 3000, "stdout": 0}
    assert [e.seq for e in events] == list(range(3000))


def test_slow_consumer_applies_backpressure_and_queue_stays_bounded() -> None:
    delivered: list[ProgressEvent] = []

    async def slow_send(event: ProgressEvent) -> None:
        await asyncio.sleep(0.002)
        delivered.append(event)

    outcome = asyncio.run(
        AuditRunner("synthetic:?events=300", mode="queue", maxsize=10).run(slow_send)
    )
    assert outcome.events_by_transport == {"queue": 300, "stdout": 0}
    assert len(delivered) == 300


@pytest.mark.parametrize("k", [0, 1, 37, 119, 500])
def test_failover_mid_stream_loses_and_repeats_nothing(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_IPC_FAULT", f"sever@{k}")
    (_, control), (outcome, events) = run(STREAM, mode="stdout"), run(STREAM, mode="queue")
    assert [e.seq for e in events] == list(range(120))
    assert comparable(events) == comparable(control)
    assert outcome.ipc_faults == []
    expected_queue = min(k, 120)
    assert outcome.events_by_transport == {"queue": expected_queue, "stdout": 120 - expected_queue}
    if k < 120:
        assert outcome.fallback and "severed" in str(outcome.fallback_reason)
        assert outcome.mode_used == "stdout"
    else:
        assert not outcome.fallback and outcome.attested_transport == "queue"


def test_child_that_cannot_reach_the_queue_completes_over_stdout(
    monkeypatch: pytest.MonkeyPatch, _private_metrics_db: Path
) -> None:
    monkeypatch.setenv("VERITAS_IPC_FAULT", "connect")
    store = MetricsStore()
    outcome, _events = run(STREAM, mode="queue", metrics=store)
    assert outcome.state == "completed"
    assert outcome.events_by_transport == {"queue": 0, "stdout": 120}
    assert outcome.fallback and str(outcome.fallback_reason).startswith("connect:")
    (row,) = store.rows()
    assert row["fallback"] == 1 and row["mode_used"] == "stdout" and row["events_stdout"] == 120


def test_printed_markers_never_become_events() -> None:
    for mode in ("stdout", "queue"):
        outcome, events = run("synthetic:?events=10&print_markers=1", mode=mode)
        assert len(events) == 10 and all(e.audit_id == "t" for e in events)
        assert outcome.malformed_lines == 0
        assert sum("forged" in line for line in outcome.stderr_tail) == 3  # print, fd 1, subprocess


@pytest.mark.parametrize("mode", ["stdout", "queue"])
def test_crashing_child_is_reported_crashed(mode: str) -> None:
    outcome, events = run("synthetic:?events=50&crash_after=20", mode=mode)
    assert outcome.state == "crashed" and outcome.exit_code == 70
    assert outcome.ipc_faults == []
    # Every line is flushed, every put written, before the emit returns: nothing dies with it.
    assert [e.seq for e in events] == list(range(20))
    assert outcome.attested_transport == mode


def test_hung_child_is_killed_at_the_timeout_with_its_tree() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = time.monotonic()
    outcome, events = run("synthetic:?events=50&hang_after=5", mode="queue", timeout=2.0)
    elapsed = time.monotonic() - started
    assert outcome.state == "timeout" and outcome.killed >= 1
    assert elapsed < 2.0 + 5.0
    assert len(events) == 5
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before, "the hung child survived"


def test_concurrent_runners_do_not_cross_talk() -> None:
    async def one(i: int) -> tuple[AuditOutcome, list[ProgressEvent]]:
        got: list[ProgressEvent] = []

        async def send(e: ProgressEvent) -> None:
            got.append(e)

        runner = AuditRunner(
            f"synthetic:?events={50 + i}",
            mode="queue" if i % 2 else "stdout",
            audit_id=f"audit-{i}",
        )
        return await runner.run(send), got

    async def many() -> list[tuple[AuditOutcome, list[ProgressEvent]]]:
        return list(await asyncio.gather(*(one(i) for i in range(16))))

    for i, (outcome, events) in enumerate(asyncio.run(many())):
        assert outcome.state == "completed" and outcome.ipc_faults == []
        assert {e.audit_id for e in events} == {f"audit-{i}"}
        assert len(events) == 50 + i
        assert outcome.attested_transport == ("queue" if i % 2 else "stdout")


def test_authkey_is_not_on_the_command_line_nor_in_the_environment() -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []

    async def send(event: ProgressEvent) -> None:
        if event.seq == 1:
            for p in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    seen.append((p.cmdline(), p.environ()))

    # spawn=2: the child starts two grandchildren, which must not see the key either
    runner = AuditRunner("synthetic:?events=30&rate=200&spawn=2", mode="queue")
    server_key: list[bytes] = []
    original = runner.run

    async def capture() -> AuditOutcome:
        import veritas.parent.queue_server as qs

        real_init = qs.QueueServer.__init__

        def spy(self: qs.QueueServer, *a: object, **k: object) -> None:
            real_init(self, *a, **k)  # type: ignore[arg-type]
            server_key.append(self._authkey)

        qs.QueueServer.__init__ = spy  # type: ignore[method-assign]
        try:
            return await original(send)
        finally:
            qs.QueueServer.__init__ = real_init  # type: ignore[method-assign]

    outcome = asyncio.run(capture())
    assert outcome.attested_transport == "queue"
    assert len(seen) >= 3, "the child and its two grandchildren were not all observed"
    assert any("time.sleep(3600)" in " ".join(argv) for argv, _ in seen)
    key_hex = server_key[0].hex()
    for argv, env in seen:
        blob = " ".join(argv) + " ".join(f"{k}={v}" for k, v in env.items())
        assert key_hex not in blob


@pytest.mark.parametrize("mode", ["stdout", "queue"])
def test_the_child_runs_this_veritas_not_one_in_the_working_directory(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    impostor = tmp_path / "veritas"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "child.py").write_text("import sys\nsys.exit(93)\n")
    monkeypatch.chdir(tmp_path)
    outcome, events = run("synthetic:?events=20", mode=mode)
    assert outcome.exit_code == 0 and outcome.state == "completed"
    assert outcome.attested_transport == mode
    assert [e.seq for e in events] == list(range(20))


def test_a_gap_is_reported_without_the_child_waiting_put_timeout_at_close() -> None:
    # The parent can never acknowledge the events after a dropped one; once it has read the
    # end of stream it says so, and the child ends instead of waiting for acknowledgements.
    env = {**os.environ, "VERITAS_IPC_FAULT": "drop@5"}
    started = time.monotonic()
    outcome, events = run("synthetic:?events=30", mode="queue", put_timeout=8.0, env=env)
    assert time.monotonic() - started < 6.0
    assert outcome.ipc_faults and "5" in outcome.ipc_faults[0]
    assert outcome.attested_transport == "queue" and not outcome.fallback
    assert [e.seq for e in events] == [s for s in range(30) if s != 5]
