"""The Queue protocol as a state machine: puts of random sizes, bursts and pauses, a slow
parent, lost acknowledgements and a severed connection, in any order.

Invariants: the parent has received exactly a prefix of the events whose ``put`` returned,
once and in order, at every step; at the end it has all of them and none whose ``put``
raised (those go over stdout, so the stream the consumer sees is the whole one, once); and
the end never waits for acknowledgements that were lost.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing.connection import Connection, Listener

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from veritas.child.queue_sender import QueueFailure, QueueSender
from veritas.protocol.event import ProgressEvent
from veritas.protocol.queue_wire import BATCH, END, decode_batch, encode_ack

PUT_TIMEOUT = 1.0
SIZES = st.sampled_from([0, 0, 1, 100, 70_000, 1_000_000, 8_000_000])


class Parent:
    """A parent that acknowledges what it received, slowly or not at all when told to."""

    def __init__(self) -> None:
        self.authkey = os.urandom(32)
        self.listener = Listener(authkey=self.authkey)
        self.lock = threading.Lock()
        self.received: list[int] = []
        self.ack_delay = 0.0
        self.acks_to_lose = 0
        self.ended = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.listener.accept() as conn:
            try:
                while (message := conn.recv_bytes())[:1] == BATCH:
                    self._take(conn, decode_batch(message))
                if message == END:
                    self.ended = True
                    conn.send_bytes(END)
                while True:
                    conn.recv_bytes()  # until the child hangs up
            except (EOFError, OSError):
                return

    def _take(self, conn: Connection, events: list[ProgressEvent]) -> None:
        with self.lock:
            self.received += [e.seq for e in events]
            lose = self.acks_to_lose > 0
            self.acks_to_lose -= lose
        if self.ack_delay:
            time.sleep(self.ack_delay)
        if not lose:
            conn.send_bytes(encode_ack(len(events)))

    def snapshot(self) -> list[int]:
        with self.lock:
            return list(self.received)


class QueueProtocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.parent = Parent()
        self.sender: QueueSender | None = None
        self.accepted: list[int] = []  # seqs whose put returned
        self.refused: list[int] = []  # seqs whose put raised: they go over stdout
        self.seq = 0

    @initialize(
        maxsize=st.integers(1, 8),
        max_bytes=st.sampled_from([1, 200_000, 4_000_000]),
        sever_after=st.none() | st.integers(0, 40),
    )
    def connect(self, maxsize: int, max_bytes: int, sever_after: int | None) -> None:
        self.sender = QueueSender(
            self.parent.listener.address,
            self.parent.authkey,
            maxsize=maxsize,
            max_bytes=max_bytes,
            put_timeout=PUT_TIMEOUT,
            sever_after=sever_after,
        )

    def _put(self, size: int) -> None:
        assert self.sender is not None
        seq, self.seq = self.seq, self.seq + 1
        if self.refused:  # failed over: the rest goes over stdout
            self.refused.append(seq)
            return
        try:
            self.sender.put(ProgressEvent("m", seq, "log", "scout", data=b"d" * size or None))
        except QueueFailure:
            self.refused.append(seq)
        else:
            self.accepted.append(seq)

    @rule(size=SIZES)
    def put(self, size: int) -> None:
        self._put(size)

    @rule(count=st.integers(1, 60))
    def burst(self, count: int) -> None:
        for _ in range(count):
            self._put(0)

    @rule(seconds=st.sampled_from([0.0005, 0.005, 0.02]))
    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    @rule(delay=st.sampled_from([0.0, 0.001, 0.01]))
    def slow_parent(self, delay: float) -> None:
        self.parent.ack_delay = delay

    @rule()
    def lose_an_acknowledgement(self) -> None:
        with self.parent.lock:
            self.parent.acks_to_lose = 1

    @invariant()
    def the_parent_has_a_prefix_of_what_was_accepted_once_in_order(self) -> None:
        received = self.parent.snapshot()
        assert received == self.accepted[: len(received)]

    def teardown(self) -> None:
        sender = self.sender
        if sender is None:
            self.parent.listener.close()
            return
        started = time.monotonic()
        if self.refused:
            sender.abandon()
        else:
            try:
                sender.close()
            except QueueFailure:
                sender.abandon()
        # A lost acknowledgement never holds the end up: the parent's E ends the wait.
        assert time.monotonic() - started < PUT_TIMEOUT + 2.5
        self.parent.thread.join(10)
        self.parent.listener.close()
        assert self.parent.snapshot() == self.accepted
        assert not set(self.refused) & set(self.parent.snapshot())
        assert sorted(self.accepted + self.refused) == list(range(self.seq))


QueueProtocol.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_queue_protocol = QueueProtocol.TestCase
