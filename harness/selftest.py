"""``harness selftest``: the harness must catch every injected Queue fault, and only those.

Each fault of ``veritas.faults`` is injected into the Queue run of a corpus case (through
``VERITAS_IPC_FAULT``) and the case is judged as in a stage validation. A corrupting fault
must come out ``mismatch`` (a crash or a hang: ``inconclusive``); a benign one (a delay, or a
severed Queue in a failover case) must come out ``match``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.caserun import RunSettings, run_case
from harness.corpus import load_corpus
from harness.siteserver import serve_sites

#: (fault, what must happen, verdicts that count as that)
FAULTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("drop@5", "detect", ("mismatch",)),
    ("dup@5", "detect", ("mismatch",)),
    ("swap@5", "detect", ("mismatch",)),
    ("char@5", "detect", ("mismatch",)),
    ("pixel@0", "detect", ("mismatch",)),
    ("truncate@0", "detect", ("mismatch",)),
    ("crash@5", "detect", ("mismatch", "inconclusive")),
    ("hang@5", "detect", ("mismatch", "inconclusive")),
    ("delay@50", "pass", ("match",)),
    ("sever@10", "pass", ("match",)),  # run as a failover case: the rest goes over stdout
)


def run_selftest(corpus_dir: Path, case_id: str, hang_timeout: float = 30.0) -> dict[str, Any]:
    corpus = load_corpus([corpus_dir])
    case = corpus.by_id(case_id)
    rows = []
    with serve_sites(list(corpus.sites_dirs)) as server, tempfile.TemporaryDirectory() as tmp:
        url = case.target_url(server) if case.site else case.target_url()
        for fault, expected, accepted in FAULTS:
            env = dict(os.environ)
            subject = case
            env["VERITAS_IPC_FAULT"] = fault
            if fault.startswith("sever"):
                subject = dataclasses.replace(case, failover=True)
            settings = RunSettings(noise_runs=0, audit_timeout=hang_timeout, env=env)
            result = run_case(subject, url, settings, Path(tmp))
            rows.append(
                {
                    "fault": fault,
                    "expected": expected,
                    "observed": result["verdict"],
                    "ok": result["verdict"] in accepted,
                    "reasons": result["reasons"][:2],
                }
            )
    detect = [r for r in rows if r["expected"] == "detect"]
    benign = [r for r in rows if r["expected"] == "pass"]
    return {
        "case": case_id,
        "faults": rows,
        "detection_rate": round(sum(r["ok"] for r in detect) / len(detect), 3),
        "false_alarms": sum(not r["ok"] for r in benign),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"harness selftest on case {result['case']}",
        f"{'fault':<12}{'expected':<10}{'observed':<14}ok",
    ]
    for r in result["faults"]:
        lines.append(
            f"{r['fault']:<12}{r['expected']:<10}{r['observed']:<14}{'yes' if r['ok'] else 'NO'}"
        )
    lines.append(
        f"detection rate {result['detection_rate']:.2f}, false alarms {result['false_alarms']}"
    )
    return "\n".join(lines)
