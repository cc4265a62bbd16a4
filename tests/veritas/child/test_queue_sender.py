"""The child's Queue end on its own: each put writes its event before it returns, so the
parent receives every event once and in order, even from a child killed right after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

import pytest

from veritas.child.queue_sender import QueueFailure, QueueSender
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import END, decode_batch, encode_ack

ROOT = Path(__file__).resolve().parents[3]


class Receiver:
    """A minimal parent: receives batches, acknowledges them, records what came in."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.authkey = os.urandom(32)
        self.listener = Listener(authkey=self.authkey)
        self.batches: list[list[int]] = []
        self.sizes: list[int] = []
        self.ended = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.listener.accept() as conn:
            try:
                while (message := conn.recv_bytes()) != END:
                    events = decode_batch(message)
                    self.batches.append([e.seq for e in events])
                    self.sizes += [len(e.data or b"") for e in events]
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


@pytest.mark.parametrize("named_pipe", [False, True], ids=["socket", "named-pipe-path"])
def test_each_put_writes_its_event_before_it_returns(receiver: Receiver, named_pipe: bool) -> None:
    sender = receiver.sender(named_pipe=named_pipe)
    for seq in range(20):
        sender.put(event(seq))
    sender.close()
    receiver.close()
    assert sender.sends == 21  # each event, then the end of stream
    assert receiver.batches == [[seq] for seq in range(20)]
    assert receiver.ended


def test_a_burst_arrives_whole_and_in_order(receiver: Receiver) -> None:
    sender = receiver.sender()
    for seq in range(5000):
        sender.put(event(seq))
    sender.close()
    receiver.close()
    assert receiver.seqs == list(range(5000))


def test_large_events_arrive_whole(receiver: Receiver) -> None:
    sender = receiver.sender()
    payloads = [bytes([seq]) * (200_000 + seq) for seq in range(3)]
    for seq, payload in enumerate(payloads):
        sender.put(event(seq, payload))
    sender.close()
    receiver.close()
    assert receiver.seqs == [0, 1, 2]
    assert receiver.sizes == [len(p) for p in payloads]


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


def test_a_put_that_fails_has_not_accepted_its_event(receiver: Receiver) -> None:
    sender = receiver.sender(sever_after=2)
    sender.put(event(0))
    sender.put(event(1))
    with pytest.raises(QueueFailure, match="severed after 2 events"):
        sender.put(event(2))  # the emitter sends it over stdout
    assert sender.in_flight <= 2
    sender.abandon()
    receiver.close(wait=0.5)  # a severed connection never sends the end of stream
    assert receiver.seqs == [0, 1]


# A frame of 30 KB is written joined to its header in ``put``, one of 1 MB beside it.
@pytest.mark.parametrize("size", [30_000, 1_000_000])
def test_a_parent_that_stopped_reading_cannot_block_a_put_past_put_timeout(size: int) -> None:
    authkey = os.urandom(32)
    with Listener(authkey=authkey) as listener:
        accepted: list[Any] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
        thread.start()
        sender = QueueSender(listener.address, authkey, max_bytes=1 << 30, put_timeout=0.5)
        thread.join(5)
        started = time.monotonic()
        with pytest.raises(QueueFailure, match="put failed: TimeoutError"):
            for seq in range(1_000_000_000 // size):  # far more than a socket buffer holds
                sender.put(event(seq, b"x" * size))
        assert time.monotonic() - started < 0.5 * 3 + 5
        sender.abandon()
        accepted[0].close()


_DYING_CHILD = """
import os, signal, sys
from veritas.child.queue_sender import QueueSender
from veritas.protocol.event import ProgressEvent
sender = QueueSender(sys.argv[1], bytes.fromhex(sys.argv[2]), maxsize=100_000, max_bytes=1 << 30)
for seq in range(int(sys.argv[3])):
    sender.put(ProgressEvent("a", seq, "progress", "fetch", data=b"x" * (seq % 3) * 4000))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_put_returned_from_survives_sigkill() -> None:
    """The child puts a burst and is killed at once: everything put reaches the parent."""
    receiver = Receiver(ack=False)
    n = 3000
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _DYING_CHILD,
            receiver.listener.address,
            receiver.authkey.hex(),
            str(n),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    receiver.close()
    assert receiver.seqs == list(range(n))


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
    assert not sender._acks.is_alive()


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
