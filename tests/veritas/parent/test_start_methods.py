"""The runner works inside processes started by every multiprocessing start method.

A web backend may run audits from a worker process made by spawn (Windows, macOS), forkserver
or fork. The runner must not depend on the global start method, and must never set it.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any

import pytest

from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent


# fork from pytest's multi-threaded process is exactly what Python 3.12+ warns about; a web
# backend may still do it, so it is tested, and the warning is expected here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_queue_mode_from_a_worker_of_each_start_method(method: str) -> None:
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available on this platform")
    sys.path.insert(0, str(Path(__file__).parent))  # spawned workers inherit sys.path
    from startmethod_worker import audit_in_worker

    ctx: Any = mp.get_context(method)
    results = ctx.Queue()
    worker = ctx.Process(target=audit_in_worker, args=(results,))
    worker.start()
    attested, by_transport, seqs, _ = results.get(timeout=60)
    worker.join(30)
    assert worker.exitcode == 0
    assert attested == "queue"
    assert by_transport == {"queue": 40, "stdout": 0}
    assert seqs == list(range(40))


def test_library_code_leaves_the_start_method_alone() -> None:
    before = mp.get_start_method(allow_none=True)
    asyncio.run(AuditRunner("synthetic:?events=5", mode="queue").run(_noop))
    assert mp.get_start_method(allow_none=True) == before


async def _noop(event: ProgressEvent) -> None:
    return None
