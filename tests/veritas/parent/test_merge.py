from __future__ import annotations

from veritas.parent.merge import SeqMerger
from veritas.protocol.event import ProgressEvent


def ev(seq: int, audit_id: str = "a") -> ProgressEvent:
    return ProgressEvent(audit_id, seq, "log", "scout")


def seqs(ready: list[tuple[ProgressEvent, str]]) -> list[int]:
    return [e.seq for e, _ in ready]


def test_interleaved_transports_are_released_in_seq_order() -> None:
    m = SeqMerger("a", failed_over=True)
    assert seqs(m.add(ev(0), "queue")) == [0]
    assert seqs(m.add(ev(3), "stdout")) == []
    assert seqs(m.add(ev(2), "stdout")) == []  # backwards on stdout: a fault
    assert seqs(m.add(ev(1), "queue")) == [1, 2, 3]
    assert m.faults == ["out of order over stdout: seq 2 after seq 3"]
    assert m.finish() == []


def test_duplicate_is_a_fault_and_delivered_once() -> None:
    m = SeqMerger("a")
    assert seqs(m.add(ev(0), "queue")) == [0]
    assert m.add(ev(0), "queue") == []
    assert any("duplicate seq 0" in f for f in m.faults)


def test_replay_after_failover_is_counted_not_a_fault() -> None:
    m = SeqMerger("a", failed_over=True)
    m.add(ev(0), "queue")
    assert m.add(ev(0), "stdout") == []
    assert m.replayed == 1 and m.faults == []


def test_gap_is_reported_and_later_events_still_released_at_finish() -> None:
    m = SeqMerger("a")
    m.add(ev(0), "queue")
    m.add(ev(2), "queue")
    m.add(ev(5), "queue")
    assert seqs(m.finish()) == [2, 5]
    assert m.faults == ["gap: seq 1, 3-4 never arrived; 2 later events held back"]


def test_event_of_another_audit_never_crosses() -> None:
    m = SeqMerger("a")
    assert m.add(ev(0, audit_id="b"), "queue") == []
    assert "foreign event" in m.faults[0]
