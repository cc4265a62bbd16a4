"""Run one audit and keep every event it delivered: the CLI, the harness and its tools share it.

``AuditRunner.run(send)`` hands each event to ``send`` once, in ``seq`` order, and returns the
outcome. Whoever compares or prints a whole audit needs both together; ``collect`` keeps the
events in that order, and ``on_event`` sees each as it arrives (the CLI's progress line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from veritas.parent.outcome import AuditOutcome
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent


def audit_timeout_for(request_timeout: float) -> float:
    """The time limit of a whole audit whose requests each have *request_timeout* seconds.

    The child bounds every request by the request timeout itself; the parent's limit is for a
    child that stops making progress. It leaves room for a few requests at their limit plus the
    browser and the screenshots (three request timeouts and a minute), and never less than two
    minutes, so that a slow but working audit ends by itself, with its own events, rather than
    being killed as a timeout.
    """
    return max(120.0, request_timeout * 3 + 60.0)


@dataclass
class CollectedAudit:
    outcome: AuditOutcome
    #: Every event ``send`` received, in the order it received them (by ``seq``).
    events: list[ProgressEvent]


async def collect(
    runner: AuditRunner, on_event: Callable[[ProgressEvent], None] | None = None
) -> CollectedAudit:
    """Run *runner*'s audit; its outcome and its events. *on_event* is called with each event
    as it is delivered, before the next one is."""
    events: list[ProgressEvent] = []

    async def send(event: ProgressEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    outcome = await runner.run(send)
    return CollectedAudit(outcome, events)
