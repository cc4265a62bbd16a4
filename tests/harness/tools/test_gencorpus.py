"""The generated corpus used by ``harness bench harness --scale``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120
    )


def test_progress_in_a_log_is_plain_lines_on_stderr(tmp_path: Path) -> None:
    done = _harness("gen-corpus", "--cases", "3", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[:5] == [f"[{i + 1}/8] site gen-site-{i}: 21 pages" for i in range(5)]
    assert lines[5].startswith("harness gen-corpus: done, 8/8 in ") and len(lines) == 6
    assert "\r" not in done.stderr and "\x1b" not in done.stderr
    assert done.stdout.startswith("3 cases written to ")  # the result stays on stdout


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_progress_on_a_terminal_redraws_a_status_line(tmp_path: Path) -> None:
    import pty

    terminal, its_end = pty.openpty()
    with os.fdopen(terminal, "rb", buffering=0) as screen:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "gen-corpus", "--cases", "3", str(tmp_path / "c")],
            stderr=its_end,
            stdout=subprocess.PIPE,
            env={**os.environ, "TERM": "xterm"},
            timeout=120,
        )
        os.close(its_end)
        seen = b""
        while True:
            try:
                chunk = screen.read(4096)
            except OSError:  # Linux: the other end is closed and everything has been read
                break
            if not chunk:
                break
            seen += chunk
    assert done.returncode == 0
    text = seen.decode()
    assert re.search(r"\r\[1/8\] \d+\.\ds\x1b\[K", text)  # the status line, in place
    assert "\r\x1b[K[5/8] site gen-site-4: 21 pages" in text  # a step line written over it
    assert "\r\x1b[Kharness gen-corpus: done, 8/8 in " in text
