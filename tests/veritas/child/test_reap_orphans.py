"""The child reaps its orphaned descendants itself (Linux), so a killed browser's helpers are
gone at once instead of waiting as zombies for the system's init."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

_ORPHAN_PARENT = (
    "import os, subprocess, sys\n"
    "from veritas.child.main import reap_orphans\n"
    "if sys.argv[1] == 'reap': reap_orphans()\n"
    "out = subprocess.run(['sh', '-c', 'sleep 30 & echo $!'], capture_output=True, text=True)\n"
    "orphan = int(out.stdout)\n"
    "import psutil\n"
    "p = psutil.Process(orphan)\n"
    "print(p.ppid() == os.getpid())\n"
    "p.kill(); p.wait(5)\n"
)


def orphan_is_ours(how: str) -> bool:
    proc = subprocess.run(
        [sys.executable, "-c", _ORPHAN_PARENT, how],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux process attribute")
def test_an_orphan_is_reparented_to_the_child() -> None:
    assert orphan_is_ours("reap")
    assert not orphan_is_ours("no")  # the control: without it, init (or another) adopts it
