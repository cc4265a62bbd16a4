"""Merging the two channels by ``seq`` (parent side; pure logic, no I/O).

Events can arrive over the Queue and over stdout (after a failover, both in one audit). The
merger releases them strictly in ``seq`` order, each exactly once, and records every protocol
fault it sees: a duplicate, a ``seq`` going backwards within one transport, an event of another
audit, or a gap left when the streams end. A fault is never repaired silently.

After a failover the child replays on stdout the events the Queue accepted but could not
confirm sent; if one did reach the parent after all, its stdout copy is dropped and counted as
``replayed`` (the first copy is the one delivered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veritas.protocol.event import ProgressEvent


@dataclass
class SeqMerger:
    audit_id: str
    next_seq: int = 0
    failed_over: bool = False
    faults: list[str] = field(default_factory=list)
    replayed: int = 0
    _pending: dict[int, tuple[ProgressEvent, str]] = field(default_factory=dict)
    _last_seq: dict[str, int] = field(default_factory=dict)
    _seen: set[int] = field(default_factory=set, repr=False)

    def add(self, event: ProgressEvent, transport: str) -> list[tuple[ProgressEvent, str]]:
        """Take one received event; return those now ready for delivery, in ``seq`` order."""
        seq = event.seq
        if seq == self.next_seq and not self._pending and event.audit_id == self.audit_id:
            # The usual event: the next one, nothing held back. It cannot be a duplicate
            # (every seq seen is below next_seq) nor out of order on its transport.
            self._seen.add(seq)
            self._last_seq[transport] = seq
            self.next_seq = seq + 1
            return [(event, transport)]
        if event.audit_id != self.audit_id:
            self.faults.append(
                f"foreign event: audit_id {event.audit_id!r} (seq {event.seq}) over {transport}"
            )
            return []
        last = self._last_seq.get(transport, -1)
        if event.seq <= last:
            self.faults.append(f"out of order over {transport}: seq {event.seq} after seq {last}")
        else:
            self._last_seq[transport] = event.seq
        if event.seq in self._seen:
            if self.failed_over and transport == "stdout":
                self.replayed += 1
            else:
                self.faults.append(f"duplicate seq {event.seq} over {transport}")
            return []
        self._seen.add(event.seq)
        self._pending[event.seq] = (event, transport)
        ready = []
        while self.next_seq in self._pending:
            ready.append(self._pending.pop(self.next_seq))
            self.next_seq += 1
        return ready

    def finish(self) -> list[tuple[ProgressEvent, str]]:
        """The streams ended: record gaps and return what is still held, in ``seq`` order."""
        if not self._pending:
            return []
        held = sorted(self._pending)
        missing = sorted(set(range(self.next_seq, held[-1] + 1)) - set(held))
        self.faults.append(
            f"gap: seq {_ranges(missing)} never arrived; {len(held)} later events held back"
        )
        rest = [self._pending.pop(seq) for seq in held]
        self.next_seq = held[-1] + 1
        return rest

    def __len__(self) -> int:
        return len(self._pending)


def _ranges(values: list[int]) -> str:
    parts: list[str] = []
    start = prev = values[0]
    for v in values[1:]:
        if v != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = v
        prev = v
    parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
