"""Reading the rollout ledger (``ROLLOUT.jsonl``): every decision, hash-chained.

The harness writes it (``harness advance``, ``halt``, ``resume``, ``rollback``); the auditor
reads it, with the standard library alone, to say which stage the rollout is at
(``veritas rollout status``, the backend's ``/api/rollout/status``). One JSON object per line;
each entry carries the ``sha256`` of its canonical JSON (sorted keys, no spaces, ASCII,
without that field) and ``prev_sha256``, the entry before it's. An entry edited, removed or
inserted breaks the chain at the entry named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veritas.parent.mode import STAGES

#: The variable that names the ledger file for the auditor (default: ``reports/ROLLOUT.jsonl``
#: under the working directory).
LEDGER_ENV = "VERITAS_LEDGER"

LEDGER = "ROLLOUT.jsonl"
LEGACY_LEDGER = "ROLLOUT.yaml"
KINDS = ("advance", "rollback", "halt", "resume")


class LedgerError(ValueError):
    """A ledger that cannot be trusted: unreadable, of the old format, or its chain broken."""


def canonical(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_sha256(entry: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(entry)).hexdigest()


def _describe(i: int, entry: Any) -> str:
    if not isinstance(entry, dict):
        return f"entry {i}"
    stage = entry.get("stage")
    where = f" to {stage:g}" if isinstance(stage, int | float) else ""
    return f"entry {i} ({entry.get('kind')}{where}, {entry.get('at')}, by {entry.get('by')})"


def parse_time(raw: Any, what: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        raise LedgerError(f"{what}: {raw!r} is not a time; accepted: ISO 8601") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def read_ledger(report_dir: Path) -> list[dict[str, Any]]:
    """Every entry, the chain verified; LedgerError naming the first entry that breaks it."""
    path = report_dir / LEDGER
    legacy = report_dir / LEGACY_LEDGER
    if not path.exists():
        if legacy.exists():
            raise LedgerError(
                f"{legacy}: a ledger of the previous format (no hash chain, no approvers); "
                f"carry it over with `harness migrate-ledger --by NAME` (writes {LEDGER})"
            )
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{path}: cannot read the ledger: {exc}") from None
    entries: list[dict[str, Any]] = []
    previous: str | None = None
    for i, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LedgerError(f"{path}: entry {i}: not a JSON object: {exc}") from None
        what = f"{path}: {_describe(i, entry)}"
        if not isinstance(entry, dict):
            raise LedgerError(f"{what}: not a JSON object")
        if entry.get("kind") not in KINDS:
            raise LedgerError(f"{what}: kind {entry.get('kind')!r}; accepted: {', '.join(KINDS)}")
        if entry.get("stage") not in STAGES:
            raise LedgerError(
                f"{what}: stage {entry.get('stage')!r}; accepted: {', '.join(map(str, STAGES))}"
            )
        if entry.get("sha256") != entry_sha256(entry):
            raise LedgerError(
                f"{what}: its sha256 does not match its content: the entry was changed "
                "after it was written"
            )
        if entry.get("prev_sha256") != previous:
            raise LedgerError(
                f"{what}: prev_sha256 {entry.get('prev_sha256')} does not match the entry "
                f"before it ({previous}): an entry before it was changed, removed or inserted"
            )
        parse_time(entry.get("at"), what)
        previous = entry["sha256"]
        entries.append(entry)
    return entries


@dataclass(frozen=True)
class RolloutState:
    entries: list[dict[str, Any]]
    #: None: not started (no Queue traffic by the rollout)
    stage: float | None
    #: when the current stage was entered (by an advance or a rollback)
    since: dt.datetime | None
    #: the halt entry in force, if the rollout is halted
    halt: dict[str, Any] | None

    @property
    def stage_entry(self) -> dict[str, Any] | None:
        moves = [e for e in self.entries if e["kind"] in ("advance", "rollback")]
        return moves[-1] if moves else None


def rollout_state(report_dir: Path) -> RolloutState:
    """The rollout as the ledger in *report_dir* records it (an empty ledger: not started)."""
    entries = read_ledger(report_dir)
    moves = [e for e in entries if e["kind"] in ("advance", "rollback")]
    pauses = [e for e in entries if e["kind"] in ("halt", "resume")]
    halt = pauses[-1] if pauses and pauses[-1]["kind"] == "halt" else None
    return RolloutState(
        entries=entries,
        stage=float(moves[-1]["stage"]) if moves else None,
        since=parse_time(moves[-1]["at"], "ledger") if moves else None,
        halt=halt,
    )


def ledger_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the auditor looks for the ledger: ``VERITAS_LEDGER``'s directory, else
    ``reports/`` under the working directory."""
    env = os.environ if env is None else env
    named = env.get(LEDGER_ENV, "").strip()
    return Path(named).expanduser().parent if named else Path("reports")
