"""The command that validates one case again, as the terminal and the review page print it."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from harness.paths import DEFAULT_CORPUS


def repro_command(stage: float, corpus: Sequence[str | Path], case_id: str) -> str:
    """The command that validates one case again (its site server starts with it)."""
    words = ["pytest", "harness/", "--stage", f"{stage:g}", "-k", case_id]
    if [Path(d).resolve() for d in corpus] != [DEFAULT_CORPUS]:
        for directory in corpus:
            words += ["--corpus", str(directory)]
    return shlex.join(words)
