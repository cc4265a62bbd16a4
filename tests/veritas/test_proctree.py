"""The one process-tree killer, on both of its ways: with the process group (POSIX) and by
psutil's tree walk alone (what Windows has; selected here with ``group=False``)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from veritas.proctree import kill_tree, new_group_kwargs

_TREE = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "time.sleep(60)\n"
)


@pytest.mark.parametrize("group", [True, False], ids=["group", "tree-walk"])
def test_kill_tree_kills_the_child_and_its_children(group: bool) -> None:
    if group and sys.platform == "win32":
        pytest.skip("no process groups on Windows")
    proc = subprocess.Popen([sys.executable, "-c", _TREE], **new_group_kwargs())
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + 20
    while not root.children() and time.monotonic() < deadline:
        time.sleep(0.02)
    victims = [root, *root.children(recursive=True)]
    assert len(victims) == 2
    assert kill_tree(proc.pid, group=group) == 2
    proc.wait(5)
    assert psutil.wait_procs(victims, timeout=5)[1] == []  # none still alive
