"""Provenance of a stage report: code version, corpus, interpreter, platform, packages.

A report describes the code that ran by ``code_digest``: a SHA-256 over the package's source
files (``veritas/`` and ``harness/``, the stages policy excepted: the gate applies the current
policy when it reads a report) and the versions of the distributions it depends on. A report
is stale when that digest or the corpus digest differs from the checkout's — not when only a
commit was added that touches neither (the rollout ledger, a report, the docs).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.paths import ROOT
from veritas.child.engines import BUNDLED_ENGINE
from veritas.child.faults import ENV as FAULT_ENV
from veritas.child.seqlog import ENV as SEQ_LOG_ENV
from veritas.parent.engine import check_engine

PACKAGES = ("veritas-ipc", "pytest", "pytest-xdist", "deepdiff", "pillow", "pyyaml", "psutil")
#: The directories whose files are the code a report describes.
SOURCE_DIRS = ("veritas", "harness")
#: Files under SOURCE_DIRS that are not code (the gate reads the policy when it decides).
NOT_CODE = frozenset({"harness/stages.yaml"})
#: Variables recorded in a report: every setting the product or the harness reads.
RECORDED_PREFIXES = ("QUEUE_IPC_", "VERITAS_")
#: Settings that exist only to test the harness: a run with one of them set cannot gate.
TEST_ONLY_VARIABLES = frozenset({FAULT_ENV, SEQ_LOG_ENV})
TEST_ONLY_PREFIXES = ("VERITAS_TEST_",)
#: Recorded by name only: a value that may be a secret or is a local path of no interest.
_VALUE_HIDDEN = frozenset({"VERITAS_IPC_AUTHKEY", "VERITAS_METRICS_DB"})


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """The checkout's commit, whether the working tree has uncommitted changes (reports and
    the rollout ledger under ``reports/`` do not count), and the code digest."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=normal", "--", ".", ":!reports")
    return {
        "commit": commit,
        "dirty": bool(status) if status is not None else None,
        "digest": code_digest(),
    }


def _source_files(root: Path) -> list[Path]:
    files = []
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames[:] = sorted(
                d for d in dirnames if d != "__pycache__" and not d.startswith(".")
            )
            for name in filenames:
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                if rel not in NOT_CODE and not name.endswith((".pyc", ".pyo")):
                    files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def dependency_versions() -> dict[str, str | None]:
    """Installed version of each distribution the package requires (and its own)."""
    try:
        requires = metadata.requires("veritas-ipc") or []
    except metadata.PackageNotFoundError:
        requires = []
    names = {
        re.split(r"[\s;<>=!~\[(]", r, maxsplit=1)[0].lower()
        for r in requires
        if "extra ==" not in r
    }
    names |= {n.lower() for n in PACKAGES}
    return {name: _version(name) for name in sorted(names)}


@cache
def code_digest(root: Path = ROOT) -> str:
    """``sha256:<hex>`` over the source files (path and bytes) and the dependency versions."""
    h = hashlib.sha256()
    for path in _source_files(root):
        data = path.read_bytes()
        h.update(b"file %s %d\0" % (path.relative_to(root).as_posix().encode(), len(data)))
        h.update(data)
    for name, version in dependency_versions().items():
        h.update(f"dist {name} {version}\0".encode())
    return "sha256:" + h.hexdigest()


def recorded_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The run's own settings: every ``QUEUE_IPC_*``/``VERITAS_*`` variable that is set."""
    env = os.environ if env is None else env
    return {
        name: ("(set)" if name in _VALUE_HIDDEN else value)
        for name, value in sorted(env.items())
        if name.startswith(RECORDED_PREFIXES)
    }


def test_only_settings(environment: Mapping[str, str]) -> list[str]:
    """The test-only settings among *environment* (``NAME=value``), which keep a run from gating."""
    return [
        f"{name}={value}"
        for name, value in sorted(environment.items())
        if name in TEST_ONLY_VARIABLES or name.startswith(TEST_ONLY_PREFIXES)
    ]


#: Who ran a validation, recorded in its report (the approver of an advance may not be them).
AUTHOR_ENV = "VERITAS_RUN_AUTHOR"


def run_author(env: Mapping[str, str] | None = None) -> str | None:
    """``VERITAS_RUN_AUTHOR``, else ``git config user.name``, else None (unknown)."""
    env = os.environ if env is None else env
    return env.get(AUTHOR_ENV, "").strip() or _git("config", "user.name") or None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(
    corpus_digest: str | None,
    corpus_dirs: list[str],
    workers: int,
    engine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a report records of the run's circumstances; *engine* describes the audit engine
    (``veritas.parent.engine.check_engine``; default the bundled one)."""
    return {
        "code": code_version(),
        "author": run_author(),
        "engine": dict(engine) if engine else check_engine(BUNDLED_ENGINE),
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
        "environment": recorded_environment(),
    }
