"""``harness selftest`` reports an injected fault as detected (or benign) as expected, and
holds back what the parent logs about it unless the fault went wrong."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.paths import DEFAULT_CORPUS
from harness.tools import selftest
from harness.tools.selftest import _outcome, run_selftest
from veritas.parent.progress import Progress


def row(expected: str, observed: str, ok: bool) -> dict[str, Any]:
    return {
        "expected": expected,
        "observed": observed,
        "ok": ok,
        "reasons": ["queue run timed out"],
    }


def test_each_fault_line_says_what_happened_against_what_was_expected() -> None:
    assert _outcome(row("detect", "inconclusive", True)) == (
        "injected fault detected as expected: inconclusive — queue run timed out"
    )
    assert _outcome(row("detect", "match", False)).startswith(
        "MISSED: the injected fault came out match"
    )
    assert _outcome(row("pass", "match", True)) == "benign fault passed as expected: match"
    assert _outcome(row("pass", "mismatch", False)).startswith(
        "FALSE ALARM: the benign fault came out mismatch"
    )


HELD = """
import logging, sys
from harness.tools.heldlogs import held_logs, replay
from veritas.parent.progress import Progress
log = logging.getLogger("veritas.ipc")
with held_logs() as held:
    log.error("audit a: timed out after 30s; killed 1 processes")
print(len(held), file=sys.stderr)
if sys.argv[1] == "replay":
    replay(held, Progress("t", enabled=False))
"""


@pytest.mark.parametrize("then", ["keep", "replay"])
def test_held_records_are_not_printed_unless_replayed(then: str) -> None:
    # A subprocess: under pytest the root logger has handlers, so nothing would print anyway.
    done = subprocess.run(
        [sys.executable, "-c", HELD, then], capture_output=True, text=True, check=True
    )
    lines = done.stderr.splitlines()
    assert lines[0] == "1"
    assert lines[1:] == (
        ["audit a: timed out after 30s; killed 1 processes"] if then == "replay" else []
    )


@pytest.mark.slow
def test_a_hang_is_reported_as_detected_not_as_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(selftest, "FAULTS", (("hang@5", "detect", ("mismatch", "inconclusive")),))
    out = io.StringIO()
    with Progress("harness selftest", stream=out, live=False) as progress:
        result = run_selftest(DEFAULT_CORPUS, "clean_shop", hang_timeout=15.0, progress=progress)
    assert result["detection_rate"] == 1.0
    first, last = out.getvalue().splitlines()
    assert first.startswith("[1/1] hang@5 on clean_shop: injected fault detected as expected: ")
    assert "timed out" in first
    assert last.startswith("harness selftest: done, 1/1 in ")
