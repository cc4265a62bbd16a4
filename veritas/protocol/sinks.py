"""``ListSink``: in process, its ``emit`` validates and keeps every event.

For running the engine without a child process (tests, corpus sanity checks): events get
``seq`` and ``timestamp`` the way the child's emitter would give them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from veritas.protocol.event import ProgressEvent, check_order, validate_event


@dataclass
class ListSink:
    audit_id: str = "in-process"
    events: list[ProgressEvent] = field(default_factory=list)

    def emit(
        self,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> ProgressEvent:
        event = ProgressEvent.stamped(
            self.audit_id,
            len(self.events),
            type,
            phase,
            step=step,
            pct=pct,
            detail=detail,
            summary=summary,
            data=data,
        )
        validate_event(event)
        check_order(self.events[-1].type if self.events else None, type)
        self.events.append(event)
        return event
