"""The commands that validate one case, or a whole stage, again, as the terminal and the
review page print them."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from harness.paths import DEFAULT_CORPUS


def _corpus_words(corpus: Sequence[str | Path]) -> list[str]:
    if [Path(d).resolve() for d in corpus] == [DEFAULT_CORPUS]:
        return []
    return [word for directory in corpus for word in ("--corpus", str(directory))]


def repro_command(stage: float, corpus: Sequence[str | Path], case_id: str) -> str:
    """The command that validates one case again (its site server starts with it)."""
    words = ["pytest", "harness/", "--stage", f"{stage:g}", "-k", case_id]
    return shlex.join(words + _corpus_words(corpus))


def stage_command(stage: float, corpus: Sequence[str | Path]) -> str:
    """The command that validates the whole stage again, every case, on every core."""
    return shlex.join(
        ["pytest", "harness/", "--stage", f"{stage:g}", "-n", "auto", *_corpus_words(corpus)]
    )
