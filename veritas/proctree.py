"""Starting a process in its own group and killing its whole tree: the one killer for the
audit child (parent side) and for Chromium and its helpers (the engine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import Any

import psutil


def new_group_kwargs() -> dict[str, Any]:
    """Popen keyword arguments that put the child (and its children) in a group of its own."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def kill_tree(pid: int, *, group: bool = sys.platform != "win32") -> int:
    """Kill *pid* and every descendant; return how many processes were signalled.

    Descendants are collected before the parent dies (afterwards they are re-parented and
    no longer findable through it); with *group* (POSIX) the process group is killed as
    well, which also reaches descendants that were already orphaned. Without it (Windows,
    where there is no such group; selectable anywhere) psutil's tree walk is all there is.
    """
    victims: list[psutil.Process] = []
    try:
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
    except psutil.Error:
        pass
    if group:
        # The child leads its own session, so its process group id is its pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(victims, timeout=5)
    return len(victims)


def kill_leftovers(pid: int) -> int:
    """Kill what remains of the process group of *pid*, a child that has ended and been reaped.

    Whatever is still in the group is a process the child started and left behind. Returns
    how many there were. On Windows there is no group to walk once the child is gone; there
    the child's own tree is killed on timeout (``kill_tree``) and nothing is done here.
    """
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return 0
    if psutil.pid_exists(pid):
        # Not our child any more (it was reaped): its pid was reused, so the group is not ours.
        # While any process of our group lives, the kernel does not hand its id out again.
        return 0
    left = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):  # it may be gone by now
            if os.getpgid(proc.pid) == pid:
                left.append(proc)
    if not left:
        return 0
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    psutil.wait_procs(left, timeout=5)
    return len(left)
