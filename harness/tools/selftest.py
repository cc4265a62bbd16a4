"""``harness selftest``: the harness must catch every injected Queue fault, and only those.

Each fault of ``veritas.child.faults`` is injected into the Queue run of a corpus case (through
``VERITAS_IPC_FAULT``) and the case is judged as in a stage validation. A corrupting fault
must come out ``mismatch`` (a crash or a hang: ``inconclusive``); a benign one (a delay, or a
severed Queue in a failover case) must come out ``match``.

A fault that can only show on some text is injected into a case that has it: ``split`` (astral
characters cut into surrogate halves) changes nothing on a page without characters above
U+FFFF, so when the selected case has none it runs on ``unicode_astral_title``.

With ``through="ws"`` (``harness selftest --through ws``) every run goes through a backend and
a WebSocket client, as in ``pytest harness/ --through ws``: the fault is the start's ``fault``
field, and what is judged is the frames received.

What the parent logs about an injected fault (the gap, the timeout and its kill, the
failover) is the fault being seen, not a failure: it is held back, and each fault's progress
line says instead whether it was detected as expected. The held records are printed only
for a fault that was missed or a benign one that raised an alarm, as evidence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.corpus.cases import Case, Corpus, load_corpus
from harness.corpus.siteserver import serve_sites
from harness.plugin.caserun import RunSettings, run_case
from harness.tools.heldlogs import held_logs, replay
from veritas.child.engines import BUNDLED_ENGINE
from veritas.parent.progress import Progress

#: (fault, what must happen, verdicts that count as that)
FAULTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("drop@5", "detect", ("mismatch",)),
    ("dup@5", "detect", ("mismatch",)),
    ("swap@5", "detect", ("mismatch",)),
    ("char@5", "detect", ("mismatch",)),
    ("pixel@0", "detect", ("mismatch",)),
    ("truncate@0", "detect", ("mismatch",)),
    ("split@0", "detect", ("mismatch",)),
    ("crash@5", "detect", ("mismatch", "inconclusive")),
    ("hang@5", "detect", ("mismatch", "inconclusive")),
    ("delay@50", "pass", ("match",)),
    ("sever@10", "pass", ("match",)),  # run as a failover case: the rest goes over stdout
)


#: The bundled case whose text is above U+FFFF, for the faults that need such text.
ASTRAL_CASE = "unicode_astral_title"


def _has_astral_text(case: Case, corpus: Corpus) -> bool:
    """Whether the files *case* audits hold a character above U+FFFF (read as UTF-8)."""
    if case.site is not None:
        roots = [d / case.site for d in corpus.sites_dirs if (d / case.site).is_dir()]
        files = [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]
    elif case.file is not None:
        files = [case.file]
    else:
        return False  # an outside URL: nothing to read beforehand
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        if text and max(text) > "\uffff":
            return True
    return False


def case_for_fault(fault: str, selected: Case, corpus: Corpus) -> Case:
    """The case *fault* is injected into: *selected*, unless the fault cannot show there."""
    if not fault.startswith("split@") or _has_astral_text(selected, corpus):
        return selected
    by_id = {case.id: case for case in corpus.cases}
    if ASTRAL_CASE in by_id:
        return by_id[ASTRAL_CASE]
    # Another corpus: any case with astral text; with none, the row shows the fault unseen.
    return next((c for c in corpus.cases if _has_astral_text(c, corpus)), selected)


def _outcome(row: dict[str, Any]) -> str:
    """The fault's line: detected (or benign) as expected, or what went wrong."""
    why = f" — {row['reasons'][0]}" if row["reasons"] else ""
    if len(why) > 110:
        why = why[:109] + "…"
    if row["expected"] == "detect":
        if row["ok"]:
            return f"injected fault detected as expected: {row['observed']}{why}"
        return f"MISSED: the injected fault came out {row['observed']}{why}"
    if row["ok"]:
        return f"benign fault passed as expected: {row['observed']}"
    return f"FALSE ALARM: the benign fault came out {row['observed']}{why}"


def run_selftest(
    corpus_dir: Path,
    case_id: str,
    hang_timeout: float = 30.0,
    through: str = "runner",
    progress: Progress | None = None,
) -> dict[str, Any]:
    progress = progress or Progress("harness selftest", enabled=False)
    progress.total = len(FAULTS)
    corpus = load_corpus([corpus_dir])
    selected = corpus.by_id(case_id)
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(serve_sites(list(corpus.sites_dirs)))
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        backend = None
        if through == "ws":
            from harness.plugin.backend import Backend

            backend = Backend(Path(tmp) / "backend", engine=BUNDLED_ENGINE, max_concurrent=2)
            stack.callback(backend.start().stop)
        for fault, expected, accepted in FAULTS:
            case = case_for_fault(fault, selected, corpus)
            url = case.target_url(server) if case.site else case.target_url()
            env = dict(os.environ)
            subject = case
            env["VERITAS_IPC_FAULT"] = fault
            if fault.startswith("sever"):
                subject = dataclasses.replace(case, failover=True)
            settings = RunSettings(
                noise_runs=0, audit_timeout=hang_timeout, env=env, backend=backend
            )
            with progress.step(f"{fault} on {case.id}") as step, held_logs() as held:
                result = run_case(subject, url, settings, Path(tmp))
                row = {
                    "fault": fault,
                    "case": case.id,
                    "expected": expected,
                    "observed": result.verdict,
                    "ok": result.verdict in accepted,
                    "reasons": result.reasons[:2],
                }
                step.result = _outcome(row)
            if not row["ok"]:
                replay(held, progress)
            rows.append(row)
    detect = [r for r in rows if r["expected"] == "detect"]
    benign = [r for r in rows if r["expected"] == "pass"]
    return {
        "case": case_id,
        "through": through,
        "faults": rows,
        "detection_rate": round(sum(r["ok"] for r in detect) / len(detect), 3),
        "false_alarms": sum(not r["ok"] for r in benign),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"harness selftest on case {result['case']}, through {result.get('through', 'runner')}",
        f"{'fault':<12}{'expected':<10}{'observed':<14}ok",
    ]
    for r in result["faults"]:
        elsewhere = f"  (on case {r['case']})" if r["case"] != result["case"] else ""
        lines.append(
            f"{r['fault']:<12}{r['expected']:<10}{r['observed']:<14}"
            f"{'yes' if r['ok'] else 'NO'}{elsewhere}"
        )
    lines.append(
        f"detection rate {result['detection_rate']:.2f}, false alarms {result['false_alarms']}"
    )
    return "\n".join(lines)
