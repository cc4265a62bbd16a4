"""Provenance of a stage report: code version, corpus, interpreter, platform, packages."""

from __future__ import annotations

import multiprocessing
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("veritas-ipc", "pytest", "pytest-xdist", "deepdiff", "pillow", "pyyaml", "psutil")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """The checkout's commit and whether the working tree has uncommitted changes."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=normal")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(corpus_digest: str | None, corpus_dirs: list[str], workers: int) -> dict[str, Any]:
    return {
        "code": code_version(),
        "corpus_digest": corpus_digest,
        "corpus_dirs": corpus_dirs,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "start_method": multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_all_start_methods()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "workers": workers,
        "argv": sys.argv[1:],
    }
