"""Target of test_start_methods: importable by name in a spawned or forkserver worker."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from typing import Any

from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent


def audit_in_worker(results: Any) -> None:
    events: list[ProgressEvent] = []

    async def send(e: ProgressEvent) -> None:
        events.append(e)

    outcome = asyncio.run(AuditRunner("synthetic:?events=40&png=2", mode="queue").run(send))
    results.put(
        (
            outcome.attested_transport,
            outcome.events_by_transport,
            [e.seq for e in events],
            mp.get_start_method(allow_none=True),
        )
    )
