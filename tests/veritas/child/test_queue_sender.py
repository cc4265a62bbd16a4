"""The child's Queue end on its own: a slow producer sends directly, a burst is batched,
and whichever path an event takes, the parent receives every event once and in order."""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Listener
from typing import Any

import pytest

from veritas.child.queue_sender import DIRECT_MAX_BYTES, QueueFailure, QueueSender
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import END, decode_batch, encode_ack


class Receiver:
    """A minimal parent: receives batches, acknowledges them, records what came in."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.authkey = os.urandom(32)
        self.listener = Listener(authkey=self.authkey)
        self.batches: list[list[int]] = []
        self.ended = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.listener.accept() as conn:
            try:
                while (message := conn.recv_bytes()) != END:
                    events = decode_batch(message)
                    self.batches.append([e.seq for e in events])
                    if self.ack:
                        conn.send_bytes(encode_ack(len(events)))
            except (EOFError, ConnectionError):
                return  # the child hung up without the end of stream
            self.ended = True

    @property
    def seqs(self) -> list[int]:
        return [s for batch in self.batches for s in batch]

    def sender(self, **kwargs: object) -> QueueSender:
        return QueueSender(self.listener.address, self.authkey, **kwargs)  # type: ignore[arg-type]

    def close(self, wait: float = 10.0) -> None:
        self.thread.join(wait)
        self.listener.close()


def settle(sender: QueueSender) -> None:
    """Wait until the parent has acknowledged everything, and a put would count as paced."""
    deadline = time.monotonic() + 10
    while sender.in_flight and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(0.002)


def event(seq: int, data: bytes | None = None) -> ProgressEvent:
    return ProgressEvent("a", seq, "progress", "fetch", data=data)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def test_a_paced_producer_sends_each_event_directly(receiver: Receiver) -> None:
    sender = receiver.sender()
    for seq in range(20):
        settle(sender)
        sender.put(event(seq))
    sender.close()
    receiver.close()
    assert sender.sends == {"direct": 20, "feeder": 0}
    assert receiver.batches == [[seq] for seq in range(20)]
    assert receiver.ended


def test_a_burst_is_batched_by_the_feeder(receiver: Receiver) -> None:
    sender = receiver.sender()
    for seq in range(5000):
        sender.put(event(seq))
    sender.close()
    receiver.close()
    assert receiver.seqs == list(range(5000))
    assert sender.sends["feeder"] > 0
    assert sum(sender.sends.values()) == len(receiver.batches) < 5000


def test_large_events_always_go_through_the_feeder(receiver: Receiver) -> None:
    sender = receiver.sender()
    for seq in range(3):
        settle(sender)
        sender.put(event(seq, b"x" * (DIRECT_MAX_BYTES + 1)))
    sender.close()
    receiver.close()
    assert sender.sends["direct"] == 0
    assert receiver.seqs == [0, 1, 2]


def test_mixed_bursts_and_pauses_keep_order_under_backpressure(receiver: Receiver) -> None:
    sender = receiver.sender(maxsize=7)
    seq = 0
    for burst in (1, 40, 1, 1, 300, 2, 1, 90):
        settle(sender)
        for _ in range(burst):
            sender.put(event(seq))
            seq += 1
    sender.close()
    receiver.close()
    assert receiver.seqs == list(range(seq))
    assert sender.sends["direct"] >= 4 and sender.sends["feeder"] >= 4


def test_a_failed_direct_send_hands_the_event_back_for_failover(receiver: Receiver) -> None:
    sender = receiver.sender(sever_after=2)
    sender.put(event(0))
    settle(sender)
    sender.put(event(1))
    settle(sender)
    sender.put(event(2))  # severed: accepted, not sent
    assert sender.sends["direct"] == 3
    unsent = sender.abandon()
    receiver.close(wait=0.5)  # a severed connection never sends the end of stream
    assert [e.seq for e in unsent] == [2]
    assert receiver.seqs == [0, 1]


def test_no_direct_send_while_the_parent_owes_acknowledgements() -> None:
    """A parent that stopped reading must not be able to block the producer in a send:
    with events unacknowledged, puts go to the feeder, where put_timeout applies."""
    receiver = Receiver(ack=False)
    sender = receiver.sender(maxsize=3, put_timeout=0.5)
    sender.put(event(0))
    for seq in (1, 2):
        time.sleep(0.002)
        sender.put(event(seq))
    assert sender.sends["direct"] == 1
    time.sleep(0.002)
    with pytest.raises(QueueFailure, match="put timed out"):
        sender.put(event(3))
    sender.abandon()
    receiver.close(wait=0.5)


def test_payload_bytes_in_flight_are_bounded_and_freed_by_acks() -> None:
    held = Receiver(ack=False)
    sender = held.sender(max_bytes=3_000_000, put_timeout=0.3)
    mb = b"x" * 1_000_000
    for seq in range(3):
        sender.put(event(seq, mb))  # 3 MB: at the bound, not over it
    with pytest.raises(QueueFailure, match=r"3 events \(3000000 payload bytes\) in flight "
                       r"\(maxsize 1000, max_bytes 3000000\)"):  # fmt: skip
        sender.put(event(3, b"y"))
    sender.abandon()
    held.close(wait=0.1)


def test_an_event_bigger_than_max_bytes_goes_alone_and_acks_free_its_bytes(
    receiver: Receiver,
) -> None:
    sender = receiver.sender(max_bytes=1000, put_timeout=5)
    for seq in range(6):
        sender.put(event(seq, bytes([seq]) * 1500))  # each waits for the previous one's ack
    sender.close()
    receiver.close()
    assert receiver.seqs == list(range(6))
    assert all(len(batch) == 1 for batch in receiver.batches)  # never two in flight
    assert "bytes=0/1000" in repr(sender)


def _watch_close(sender: QueueSender) -> list[bool]:
    """Record, when the descriptor is closed, whether the ack thread was still running."""
    alive_at_close: list[bool] = []
    conn: Any = sender._conn
    close = conn._close

    def watched() -> None:
        alive_at_close.append(sender._acks.is_alive())
        close()

    conn._close = watched
    return alive_at_close


@pytest.mark.parametrize("ending", ["close", "severed", "abandoned"])
def test_the_descriptor_is_closed_only_after_the_ack_thread_ended(
    receiver: Receiver, ending: str
) -> None:
    # A thread that read the descriptor's number just before another closed it would read
    # whatever file the process opened next under that number (seen: a module's source).
    sender = receiver.sender(sever_after=3 if ending == "severed" else None)
    alive_at_close = _watch_close(sender)
    for seq in range(6):
        try:
            sender.put(event(seq))
        except QueueFailure:
            break
        if ending != "severed":  # a severed sender never has everything acknowledged
            settle(sender)
    if ending == "close":
        sender.close()
    else:
        sender.abandon()
    receiver.close()
    assert alive_at_close == [False]
    assert not sender._acks.is_alive() and not sender._feeder.is_alive()


class SlowReceiver(Receiver):
    """A parent whose consumer is slow: it holds its acknowledgements for *hold* seconds but
    says it is alive (an acknowledgement of zero events) every *beat* seconds meanwhile."""

    def __init__(self, hold: float, beat: float) -> None:
        self.hold, self.beat = hold, beat
        super().__init__()

    def _run(self) -> None:
        with self.listener.accept() as conn:
            try:
                while (message := conn.recv_bytes()) != END:
                    events = decode_batch(message)
                    self.batches.append([e.seq for e in events])
                    until = time.monotonic() + self.hold
                    while time.monotonic() < until:
                        time.sleep(self.beat)
                        conn.send_bytes(encode_ack(0))
                    conn.send_bytes(encode_ack(len(events)))
            except (EOFError, ConnectionError):
                return
            self.ended = True


def test_a_busy_parent_that_says_it_is_alive_is_waited_for_beyond_put_timeout() -> None:
    # Generous margins: the beats come ten times per put_timeout, and the hold is more than
    # twice put_timeout.
    receiver = SlowReceiver(hold=2.2, beat=0.1)
    sender = receiver.sender(maxsize=1, put_timeout=1.0)
    started = time.monotonic()
    for seq in range(2):
        sender.put(event(seq))  # the second waits ~2.2 s for the first one's acknowledgement
    sender.close()  # and this for the second's
    receiver.close()
    assert time.monotonic() - started > 2 * 2.2
    assert receiver.seqs == [0, 1]
    assert receiver.ended


def test_silence_longer_than_put_timeout_still_fails_over() -> None:
    receiver = SlowReceiver(hold=1.5, beat=1.0)  # beats further apart than put_timeout
    sender = receiver.sender(maxsize=1, put_timeout=0.4)
    sender.put(event(0))
    with pytest.raises(QueueFailure, match="put timed out"):
        sender.put(event(1))
    sender.abandon()
    receiver.close(wait=3)
