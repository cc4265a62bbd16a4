"""The generated corpus used by ``harness bench harness --scale``."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.corpus.cases import load_corpus
from harness.tools.gencorpus import generate


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_generated_corpus_loads_and_mixes_tiers(tmp_path: Path) -> None:
    corpus = load_corpus([generate(tmp_path / "c", 20)])
    assert [c.id for c in corpus.cases] == [f"gen_{i:04d}" for i in range(20)]
    tiers = [c.tier for c in corpus.cases]
    assert tiers.count("standard_audit") == 4 and tiers.count("quick_scan") == 16
    assert len({(c.site, c.path) for c in corpus.cases}) == 20


def test_a_smaller_corpus_is_a_prefix_of_a_larger_one(tmp_path: Path) -> None:
    small, big = files(generate(tmp_path / "s", 5)), files(generate(tmp_path / "b", 12))
    assert small.items() <= big.items()
    assert len(big) - len(small) == 7
    assert files(generate(tmp_path / "again", 5)) == small


@pytest.mark.parametrize("cases", [0, -3])
def test_bad_case_counts_are_refused(tmp_path: Path, cases: int) -> None:
    with pytest.raises(ValueError, match=f"cases {cases}: must be >= 1"):
        generate(tmp_path / "c", cases)


def test_an_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match="already exists"):
        generate(tmp_path, 3)
