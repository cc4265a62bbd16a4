"""The rollout ledger, ``reports/ROLLOUT.jsonl``: every decision, hash-chained.

One JSON object per line, appended and never rewritten. Each entry records its ``kind``
(``advance``, ``rollback``, ``halt``, ``resume``), who (``by``), when (``at``), why
(``reason``), the stage the rollout is at after it (``stage``) and before (``previous_stage``)
and the commit; an advance also records the validating run, the SHA-256 of its report.yaml,
the run's author and the cohort figures it rested on. Each entry carries ``prev_sha256``, the
``sha256`` of the entry before it, and its own ``sha256`` over its canonical JSON (sorted
keys, no spaces, ASCII) without that field. An entry edited, removed or inserted breaks the
chain at the entry named; rewriting every hash from the edited entry on is not detected by the
file alone — committing the ledger after each decision makes git history the anchor.

A decision reads the ledger, decides and appends under one exclusive lock
(``ROLLOUT.jsonl.lock`` beside it, ``decision_lock``): two people deciding at once are served
one after the other, and the second decides on the first one's entry — never two entries
chained to the same predecessor. Each entry is flushed to disk before the command reports it.

JSON lines, so the standard library reads it: ``veritas.parent.ledger`` reads and verifies it
for the auditor (``veritas rollout status``) and for this module, which writes it. A ledger of the previous format (``ROLLOUT.yaml``: a list of advances, no chain) is
refused with the command that carries it over (``harness migrate-ledger --by NAME``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from harness.report.gate import ReportError
from harness.yamlfile import yaml_problem
from veritas.parent import ledger
from veritas.parent.mode import STAGES

LEDGER = ledger.LEDGER
LEGACY_LEDGER = ledger.LEGACY_LEDGER
KINDS = ledger.KINDS
canonical = ledger.canonical
entry_sha256 = ledger.entry_sha256
RolloutState = ledger.RolloutState


class LedgerError(ReportError):
    """A ledger that cannot be trusted: unreadable, of the old format, or its chain broken."""


def parse_time(raw: Any, what: str) -> dt.datetime:
    try:
        return ledger.parse_time(raw, what)
    except ledger.LedgerError as exc:
        raise LedgerError(str(exc)) from None


def read_ledger(report_dir: Path) -> list[dict[str, Any]]:
    """Every entry, the chain verified; LedgerError naming the first entry that breaks it."""
    try:
        return ledger.read_ledger(report_dir)
    except ledger.LedgerError as exc:
        raise LedgerError(str(exc)) from None


def rollout_state(report_dir: Path) -> RolloutState:
    try:
        return ledger.rollout_state(report_dir)
    except ledger.LedgerError as exc:
        raise LedgerError(str(exc)) from None


LOCK = LEDGER + ".lock"
#: How long a decision waits for another one to finish before it gives up (seconds).
LOCK_WAIT_S = 60.0

_held: set[Path] = set()  # lock files this process holds (a decision nests its append)


def _lockers(platform: str) -> tuple[Callable[[int], bool], Callable[[int], None]]:
    """(try to lock without blocking, unlock) for an open file descriptor: ``flock`` on POSIX,
    ``msvcrt.locking`` of the file's first byte on Windows."""
    if platform == "win32":
        import msvcrt

        def try_lock_win(fd: int) -> bool:
            os.lseek(fd, 0, os.SEEK_SET)
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            except OSError:
                return False
            return True

        def unlock_win(fd: int) -> None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined,unused-ignore]

        return try_lock_win, unlock_win
    import fcntl

    def try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    return try_lock, unlock


@contextmanager
def decision_lock(
    report_dir: Path, *, wait_s: float | None = None, platform: str = sys.platform
) -> Iterator[None]:
    """Hold the ledger's exclusive lock: read, decide and append inside it. Waits (saying so on
    stderr, with the holder's pid) up to *wait_s* for another decision, then LedgerError."""
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    path = report_dir / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _held:
        yield
        return
    try_lock, unlock = _lockers(platform)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline, told = time.monotonic() + wait_s, False
        while not try_lock(fd):
            if not told:
                holder = path.read_text(encoding="utf-8", errors="replace").strip() or "?"
                print(
                    f"waiting for the ledger's lock {path} (held by another decision: {holder})",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            if time.monotonic() >= deadline:
                raise LedgerError(
                    f"{path}: another decision has held the ledger's lock for over {wait_s:g} s; "
                    "try again when it is done (the file names its process)"
                )
            time.sleep(0.05)
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:3])}".encode())
            _held.add(key)
            yield
        finally:
            _held.discard(key)
            unlock(fd)
    finally:
        os.close(fd)


def append(report_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Chain *entry* to the ledger (verified first) and append it as one line, flushed to disk,
    under the ledger's lock (the caller's, when it decides under ``decision_lock``)."""
    with decision_lock(report_dir):
        entries = read_ledger(report_dir)
        entry = {**entry, "prev_sha256": entries[-1]["sha256"] if entries else None}
        entry["sha256"] = entry_sha256(entry)
        path = report_dir / LEDGER
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
    return entry


def migrate(report_dir: Path, by: str) -> list[dict[str, Any]]:
    """Carry a ``ROLLOUT.yaml`` ledger over into a chained ``ROLLOUT.jsonl``; the old file is
    kept as ``ROLLOUT.yaml.migrated``. Each old advance keeps its fields; who made it is not
    known (``by: null``), who carried it over is in its reason."""
    with decision_lock(report_dir):
        return _migrate(report_dir, by)


def _migrate(report_dir: Path, by: str) -> list[dict[str, Any]]:
    legacy = report_dir / LEGACY_LEDGER
    if (report_dir / LEDGER).exists():
        raise LedgerError(f"{report_dir / LEDGER} exists already: nothing to migrate")
    try:
        data = yaml.safe_load(legacy.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LedgerError(f"{legacy}: cannot read it: {yaml_problem(exc)}") from None
    old = data.get("advances") if isinstance(data, dict) else None
    if not isinstance(old, list) or not all(
        isinstance(e, dict) and e.get("stage") in STAGES and "date" in e for e in old
    ):
        raise LedgerError(f"{legacy}: expected a mapping with an 'advances' list of stage/date")
    for e in old:
        parse_time(e["date"], f"{legacy}: date of stage {e['stage']:g}")
    # Out of the way first: the chained ledger is written as new, never beside the old one.
    legacy.rename(legacy.with_name(LEGACY_LEDGER + ".migrated"))
    written = []
    for e in old:
        fields = {k: v for k, v in e.items() if k not in ("stage", "date", "previous_stage")}
        written.append(
            append(
                report_dir,
                {
                    "kind": "advance",
                    "at": str(e["date"]),
                    "by": None,
                    "reason": f"migrated from {LEGACY_LEDGER} by {by}",
                    "stage": e["stage"],
                    "previous_stage": e.get("previous_stage"),
                    **fields,
                },
            )
        )
    return written
