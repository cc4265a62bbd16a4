"""Log records a tool expects, held back instead of printed.

A tool that injects faults on purpose (``harness selftest``, ``failover``, ``killtest``) makes
the parent log what it sees — a gap, a timeout and its kill, a failover — at WARNING or
ERROR. Those records are the fault being seen, not a failure, and printed as they come they
read like one. The tool holds them and says in its progress line whether the fault was
handled as expected; only when it was not are the held records printed, as evidence.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from veritas.parent.progress import Progress


class _Held(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_logs(
    name: str = "veritas", level: int = logging.WARNING
) -> Iterator[list[logging.LogRecord]]:
    """While the block runs, records of *name*'s loggers at *level* and above are kept in the
    list it yields. With a handler of its own the logger no longer falls back to printing on
    stderr (and handlers further up, such as pytest's, still see every record)."""
    handler = _Held(level)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def replay(records: list[logging.LogRecord], progress: Progress) -> None:
    """Show held *records*: as lines under the progress, or, when no progress is shown (as
    under ``--json``), through their loggers as they would have been printed."""
    for record in records:
        if progress.enabled:
            progress.note(f"    {record.levelname} {record.name}: {record.getMessage()}")
        else:
            logging.getLogger(record.name).handle(record)
