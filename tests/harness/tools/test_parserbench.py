"""The parser benchmark: its conformance judge, its page sets and its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tools import parserbench
from harness.tools.parserbench import CANDIDATES, Candidate, conformance, measure, page_sets

LEXBOR = CANDIDATES[0]


def test_the_engines_parser_builds_the_standards_tree_in_every_case() -> None:
    verdicts = conformance(LEXBOR)
    assert [v for v in verdicts.values() if v != "ok" and not v.startswith("n/a")] == []


def test_a_parser_that_does_not_follow_the_standard_is_named() -> None:
    # A "parser" whose body is always one paragraph fails every tree case.
    flat = Candidate("flat", "selectolax", LEXBOR.parse, lambda html: 'p("x")')
    verdicts = conformance(flat)
    assert verdicts["misnested tags (adoption agency)"] == 'got p("x")'


def test_page_sets_hold_static_and_generated_pages(tmp_path: Path) -> None:
    site = tmp_path / "s"
    (site / "_t").mkdir(parents=True)
    (site / "index.html").write_text("<p>static</p>")
    (site / "_t" / "page.html").write_text("<main>{{content}}</main>")
    (site / "_t" / "lot.html").write_text("<p>lot {{n}}</p>")
    (site / "site.yaml").write_text(
        "rules:\n  - match: /big.html\n"
        "    generate: {kind: repeat, template: _t/page.html, fragment: _t/lot.html, count: 3}\n"
    )
    sets = page_sets(tmp_path)
    assert sets == {
        "corpus static pages": ["<p>static</p>"],
        "corpus generated pages": ["<main><p>lot 1</p><p>lot 2</p><p>lot 3</p></main>"],
    }
    rates = measure([LEXBOR], sets, repeats=1)
    assert all(rate > 0 for rate in rates[LEXBOR.name].values())


def test_bad_repeats_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parserbench.main(["--repeats", "0"])
    assert exit_info.value.code == 2
    assert "--repeats is 0; accepted: an integer of at least 1" in capsys.readouterr().err
