"""Progress of a long command on stderr: what is running, how far it is, how long it has taken.

One reporter for every long command (``harness selftest``, ``failover``, ``killtest``,
``flakes``, ``gen-corpus``, ``veritas audit --validate-ipc``; the benchmarks can use it too)::

    with Progress("harness selftest", total=len(faults), enabled=not args.json) as progress:
        for fault in faults:
            with progress.step(f"{fault} on clean_shop") as step:
                verdict = inject(fault)
                step.result = f"detected as expected ({verdict})"

Each finished step leaves one line, numbered the way pytest numbers its progress::

    [ 3/11] swap@5 on clean_shop: detected as expected (mismatch)  8.2s

On a terminal a status line below them is redrawn in place twice a second: how far, the
steps running now (each with its own time and ``step.update(detail)``), the time since the
start::

    [ 8/11] 1:47 | running: hang@5 on clean_shop 21.4s
Anywhere else (a CI log, a pipe, a file) there are no control characters, only whole lines:
the finished steps, and every ``heartbeat`` seconds a line saying what is still running, so
a log is never silent for long. ``enabled=False`` (``--json``) prints nothing at all.

Steps may run at the same time (threads, or asyncio tasks of one loop); the reporter is
thread-safe. It uses the standard library alone: ``veritas`` keeps its dependencies few.
Everything goes to stderr (or ``stream``): stdout stays the command's result.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

#: Redraws per second of a terminal's status line.
REDRAW_S = 0.5


def elapsed(seconds: float) -> str:
    """``8.2s`` under a minute, ``1:05`` under an hour, then ``1:02:03``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def is_live(stream: TextIO) -> bool:
    """Whether *stream* is a terminal that can redraw a line (not a pipe, file or dumb one)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False
    term = os.environ.get("TERM", "")
    if sys.platform == "win32":
        # A console redraws with escape sequences only where they are known to be on: Windows
        # Terminal, or a terminal that says what it is (the classic console may show them raw).
        return tty and (bool(os.environ.get("WT_SESSION")) or term not in ("", "dumb"))
    return tty and term != "dumb"


@dataclass
class Step:
    """One unit of work in progress. Set ``result`` to say how it ended (shown on its line)."""

    label: str
    started: float
    result: str = ""
    detail: str = ""

    def update(self, detail: str) -> None:
        """What the step is doing now (``scout 35%``): shown on the status line at its next
        redraw, and in a log's heartbeat. Cheap: call it as often as there is news."""
        self.detail = detail


class Progress:
    """A progress reporter for one command; see the module's docstring."""

    def __init__(
        self,
        title: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        live: bool | None = None,
        heartbeat: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = title
        #: How many steps there will be (may be set once known); None: unknown.
        self.total = total
        self.done = 0
        self.enabled = enabled
        self._stream = stream if stream is not None else sys.stderr
        self.live = is_live(self._stream) if live is None else live
        self.heartbeat = heartbeat
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._running: list[Step] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._status_shown = False

    # --- the API ---------------------------------------------------------------------

    def __enter__(self) -> Progress:
        self._started = self._last_line = self._clock()
        if self.enabled and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_loop, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if exc_type is not None and not self.done:
            return  # stopped before any work (bad input): its error message says it all
        ending = "interrupted" if exc_type is KeyboardInterrupt else "stopped by an error"
        how = ending if exc_type is not None else "done"
        self._line(f"{self.title}: {how}, {self._count()} in {elapsed(self._since_start())}")

    @contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Run one step: shown as running while the block runs, then counted and printed with
        its ``result`` (``error: <exception>`` if the block raised)."""
        step = Step(label, self._clock())
        with self._lock:
            self._running.append(step)
        try:
            yield step
        except BaseException as exc:
            step.result = step.result or f"error: {type(exc).__name__}: {exc}"
            raise
        finally:
            with self._lock:
                self._running.remove(step)
                self.done += 1
                took = self._clock() - step.started
                result = f": {step.result}" if step.result else ""
                self._line(f"{self._count_prefix()} {step.label}{result}  {elapsed(took)}")

    def advance(self, n: int = 1, line: str = "") -> None:
        """Count *n* steps done without timing them; *line*, if given, is printed for them.
        Steps counted without a line show on a terminal's status line and in a log's
        heartbeat, never one line each (a corpus of 200 files does not print 200 lines)."""
        with self._lock:
            self.done += n
            if line:
                self._line(f"{self._count_prefix()} {line}")

    def note(self, text: str) -> None:
        """A line of its own, above the status line (for what the steps' lines do not say)."""
        self._line(text)

    # --- drawing ---------------------------------------------------------------------

    def _since_start(self) -> float:
        return self._clock() - self._started

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"

    def _count_prefix(self) -> str:
        if self.total is None:
            return f"[{self.done}]"
        return f"[{self.done:>{len(str(self.total))}}/{self.total}]"

    def _status(self) -> str:
        now = self._clock()
        running = ", ".join(
            f"{s.label}{f' ({s.detail})' if s.detail else ''} {elapsed(now - s.started)}"
            for s in self._running
        )
        # Short, for an 80-column terminal: how far, the time so far, then what runs.
        head = f"{self._count_prefix()} {elapsed(now - self._started)}"
        return f"{head} | running: {running}" if running else head

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr never fails the command
            pass

    def _line(self, text: str) -> None:
        """Print one permanent line (on a terminal: above the status line, redrawn after)."""
        if not self.enabled:
            return
        with self._lock:
            if self.live:
                self._write("\r\x1b[K" + text + "\n")
                self._status_shown = False
                self._draw()
            else:
                self._write(text + "\n")
            self._last_line = self._clock()

    def _draw(self) -> None:
        if not (self.enabled and self.live) or self._stop.is_set():
            return
        width = max(20, shutil.get_terminal_size().columns - 1)
        status = self._status()
        if len(status) > width:
            status = status[: width - 3] + "..."
        self._write("\r" + status + "\x1b[K")
        self._status_shown = True

    def tick(self) -> None:
        """Redraw the status line (terminal), or print a heartbeat if the log has been quiet
        for ``heartbeat`` seconds (elsewhere). The reporter's own thread calls it; tests may."""
        if not self.enabled:
            return
        with self._lock:
            if self.live:
                self._draw()
            elif self._clock() - self._last_line >= self.heartbeat:
                self._line(self._status().replace("running:", "still running:", 1))

    def _tick_loop(self) -> None:
        while not self._stop.wait(REDRAW_S):
            self.tick()
        with self._lock:
            if self.live and self._status_shown:
                self._write("\r\x1b[K")
                self._status_shown = False
