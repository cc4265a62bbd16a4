"""Test-only record of what the child's emitter accepted (``VERITAS_IPC_SEQ_LOG``).

Never set this in production: it exists so that ``harness killtest`` can SIGKILL the child at
any moment and still know which events the child had been told were sent. When the variable
names a file, the emitter appends the ``seq`` of each event, one decimal line, as soon as the
transport's ``put`` (or the stdout write) has returned. Each line is one unbuffered ``write``
on a descriptor opened for appending, so what was written survives the process's death: the
file lists exactly the events the transport had accepted, in order.
"""

from __future__ import annotations

import os

ENV = "VERITAS_IPC_SEQ_LOG"


class SeqLog:
    """Appends one ``seq`` per line to a file; the writes are not buffered in this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def __repr__(self) -> str:
        return f"<SeqLog {self.path!r}>"

    def accepted(self, seq: int) -> None:
        os.write(self._fd, b"%d\n" % seq)

    def close(self) -> None:
        os.close(self._fd)


def seq_log_from_env() -> SeqLog | None:
    path = os.environ.get(ENV)
    return SeqLog(path) if path else None


def read_seq_log(path: str | os.PathLike[str]) -> list[int]:
    """The ``seq`` values a log holds, in the order they were written."""
    with open(path, "rb") as fh:
        return [int(line) for line in fh.read().split(b"\n") if line.strip()]
