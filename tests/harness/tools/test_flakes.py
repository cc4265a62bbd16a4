"""``harness flakes``: validations in a row, their verdicts tallied, progress as they go."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.tools.flakes import run_flakes
from harness.tools.gencorpus import generate
from veritas.parent.progress import Progress


@pytest.mark.slow
def test_a_run_reports_its_cases_as_they_end(tmp_path: Path) -> None:
    corpus = generate(tmp_path / "corpus", 2)
    out = io.StringIO()
    with Progress("harness flakes", stream=out, live=False, heartbeat=0.0) as progress:
        result = run_flakes(1, 0.1, "0", [corpus], tmp_path / "flakes", progress)
    assert result["verdicts"] == {"match": 2} and result["mismatches"] == 0
    assert (tmp_path / "flakes" / "flakes.yaml").is_file()
    lines = out.getvalue().splitlines()
    assert lines[0] == "harness flakes: 1 validation of stage 0.1, 2 cases each, -n 0"
    # with a heartbeat at every tick, the cases the run has ended show as they end
    assert any("(1/2 cases, last gen_0000 passed)" in line for line in lines)
    assert [line for line in lines if line.startswith("[1/1] run 1: 2 match  ")]
    assert lines[-1].startswith("harness flakes: done, 1/1 in ")
