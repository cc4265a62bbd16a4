"""What one run of one transport measured in ``harness bench ipc``: the consumer's clock.

Every transport, ours and the peers, hands its events to the same ``Clock.send`` on the
parent's event loop, so throughput (first emit to last delivery) and latency (emit to
``send``) are measured at the same place for all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from veritas.protocol.event import ProgressEvent


@dataclass
class Sample:
    events: int
    seconds: float
    latencies_ms: list[float]
    payload_bytes: int
    attested: str

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


class Clock:
    """The consumer every transport delivers to."""

    def __init__(self) -> None:
        self.first_emit: float | None = None
        self.last_send = 0.0
        self.latencies: list[float] = []
        self.count = 0
        self.bytes = 0

    async def send(self, event: ProgressEvent) -> None:
        now = time.time()
        if self.first_emit is None:
            self.first_emit = event.timestamp
        self.last_send = now
        self.latencies.append((now - event.timestamp) * 1000.0)
        self.count += 1
        self.bytes += len(event.data or b"")

    def sample(self, attested: str) -> Sample:
        seconds = self.last_send - (self.first_emit or self.last_send)
        return Sample(self.count, seconds, self.latencies, self.bytes, attested)
