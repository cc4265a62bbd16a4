"""Reading a validation's cases as they end, from pytest's verbose lines (``harness flakes``)."""

from __future__ import annotations

import pytest

from harness.tools.subrun import case_of_line


@pytest.mark.parametrize(
    "line, case",
    [
        ("[gw1] [  2%] PASSED harness::clean_blog \n", ("clean_blog", "PASSED")),
        ("[gw0] [ 97%] FAILED harness::dp_false_urgency\n", ("dp_false_urgency", "FAILED")),
        ("harness::unicode_astral_title PASSED                [ 45%]\n", ("unicode_astral_title", "PASSED")),
        ("harness::slow_timeout FAILED [100%]", ("slow_timeout", "FAILED")),
        ("FAILED harness::slow_timeout - inconclusive: stdout run timed out", ("slow_timeout", "FAILED")),
    ],
)  # fmt: skip
def test_a_case_line_names_the_case_and_its_outcome(line: str, case: tuple[str, str]) -> None:
    assert case_of_line(line) == case


@pytest.mark.parametrize(
    "line",
    [
        "created: 2/2 workers\n",
        "2 workers [46 items]\n",
        "========== 44 passed, 2 failed in 113.20s (0:01:53) ==========\n",
        "harness: 46 cases, report written to reports/stage-0.1/x\n",
    ],
)
def test_other_lines_are_not_cases(line: str) -> None:
    assert case_of_line(line) is None
