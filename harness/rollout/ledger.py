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

JSON lines, so the standard library reads it: ``veritas rollout status`` may, without the
harness. A ledger of the previous format (``ROLLOUT.yaml``: a list of advances, no chain) is
refused with the command that carries it over (``harness migrate-ledger --by NAME``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.report.gate import ReportError
from harness.yamlfile import yaml_problem
from veritas.parent.mode import STAGES

LEDGER = "ROLLOUT.jsonl"
LEGACY_LEDGER = "ROLLOUT.yaml"
KINDS = ("advance", "rollback", "halt", "resume")


class LedgerError(ReportError):
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


def append(report_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Chain *entry* to the ledger (verified first) and append it as one line."""
    entries = read_ledger(report_dir)
    entry = {**entry, "prev_sha256": entries[-1]["sha256"] if entries else None}
    entry["sha256"] = entry_sha256(entry)
    path = report_dir / LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    return entry


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


def migrate(report_dir: Path, by: str) -> list[dict[str, Any]]:
    """Carry a ``ROLLOUT.yaml`` ledger over into a chained ``ROLLOUT.jsonl``; the old file is
    kept as ``ROLLOUT.yaml.migrated``. Each old advance keeps its fields; who made it is not
    known (``by: null``), who carried it over is in its reason."""
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
