"""The child-side emitter: assigns ``seq`` and sends each event on the selected transport.

Runs in the child. Imports only the standard library and the protocol modules, so the child
can report progress before (and whether or not) the audit engine imports.

Stdout ownership: ``claim_stdout`` moves the real stdout to a private descriptor that only the
emitter writes to, and points file descriptor 1 (``print``, C libraries, subprocesses) at
stderr. Nothing the audit prints can forge or split an event line.

Failover: in Queue mode, any Queue failure (cannot connect, put fails, put times out) moves
the remaining events to stdout with ``seq`` continuing, starting with the event whose put
failed (a put that fails has not accepted its event; every event a put accepted is already
on its way to the parent), so nothing is lost or repeated; the parent merges both channels by
``seq``. A ``##IPC:`` control line tells the parent why.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, BinaryIO

from veritas.child.seqlog import SeqLog
from veritas.protocol.event import TERMINAL_TYPES, ProgressEvent, check_order, validate_event
from veritas.protocol.stdout_wire import encode_control, encode_line

if TYPE_CHECKING:  # a stdout-mode child never imports the Queue's code
    from veritas.child.queue_sender import QueueFailure, QueueSender


def claim_stdout() -> BinaryIO:
    """Take the process's real stdout for events; send everything else written to fd 1 to stderr."""
    sys.stdout.flush()
    private_fd = os.dup(1)  # non-inheritable: the audit's subprocesses never get it
    os.dup2(2, 1)
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        # dup2 changes the C runtime's fd 1; subprocesses take STD_OUTPUT_HANDLE instead.
        import ctypes
        import msvcrt

        ctypes.windll.kernel32.SetStdHandle(-11, msvcrt.get_osfhandle(2))  # type: ignore[attr-defined]
    return os.fdopen(private_fd, "wb", buffering=1 << 16)


def _warn(message: str) -> None:
    sys.stderr.write(f"veritas-child: WARNING {message}\n")
    sys.stderr.flush()


class Emitter:
    """The child's events: its ``emit`` is the ``veritas.protocol.event.Emit`` an engine gets."""

    def __init__(
        self,
        audit_id: str,
        stdout: BinaryIO,
        queue: QueueSender | None = None,
        *,
        seq_log: SeqLog | None = None,
    ) -> None:
        self.audit_id = audit_id
        self._stdout = stdout
        self._queue = queue
        #: What a failing ``put`` raises; nothing to catch without a Queue.
        self._queue_failure: tuple[type[QueueFailure], ...] = ()
        if queue is not None:
            from veritas.child.queue_sender import QueueFailure

            self._queue_failure = (QueueFailure,)
        self._seq_log = seq_log  # test-only (veritas.child.seqlog): what the transport accepted
        self._lock = threading.Lock()
        self._seq = 0
        self.sent = {"queue": 0, "stdout": 0}
        self.failover_reason: str | None = None
        self.last_type: str | None = None

    @property
    def transport(self) -> str:
        return "queue" if self._queue is not None else "stdout"

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
        with self._lock:
            event = ProgressEvent(
                self.audit_id,
                self._seq,
                type,
                phase,
                step,
                pct,
                detail,
                {} if summary is None else summary,
                data,
                time.time(),
            )
            validate_event(event)
            last = self.last_type
            if last is None or last in TERMINAL_TYPES or type == "audit_start":
                check_order(last, type)  # raises: only these can be out of order
            self._send(event)
            if self._seq_log is not None:
                self._seq_log.accepted(event.seq)
            self._seq += 1
            self.last_type = type
            return event

    def fail_over(self, reason: str) -> None:
        """Stop using the Queue (if any) and continue on stdout; announce it to the parent."""
        with self._lock:
            self._fail_over(reason)

    def close(self) -> None:
        with self._lock:
            if self._queue is not None:
                try:
                    self._queue.close()
                except self._queue_failure as exc:
                    self._fail_over(exc.reason)
            self._stdout.flush()

    def _send(self, event: ProgressEvent) -> None:
        if self._queue is not None:
            try:
                self._queue.put(event)
                self.sent["queue"] += 1
                return
            except self._queue_failure as exc:
                self._fail_over(exc.reason)
        self._write(event)

    def _write(self, event: ProgressEvent) -> None:
        self._stdout.write(encode_line(event))
        self._stdout.flush()
        self.sent["stdout"] += 1

    def _fail_over(self, reason: str) -> None:
        connected = self._queue is not None
        if self._queue is not None:
            self._queue.abandon()
            self._queue = None
        self.failover_reason = reason
        _warn(f"Queue IPC failed ({reason}); continuing on stdout at seq {self._seq}")
        self._stdout.write(
            encode_control({"failover": reason, "at_seq": self._seq, "connected": connected})
        )
