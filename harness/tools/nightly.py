"""``harness nightly``: validate the current stage with xdist (what a schedule calls).

The validation is ``pytest harness/`` in a subprocess that shares this terminal: pytest shows
its own progress, one character per case and the share done (``[ 45%]``); this command says
first what it starts.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from veritas.parent.mode import parse_rollout


def nightly(args: argparse.Namespace) -> int:
    stage = args.stage if args.stage is not None else parse_rollout()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "harness/",
        "--stage",
        f"{stage:g}",
        "-n",
        str(args.workers),
        "--report-dir",
        str(args.report_dir),
        "-p",
        "no:cacheprovider",
    ]
    root = Path(__file__).resolve().parents[2]
    print(
        f"harness nightly: validating stage {stage:g} with {args.workers} workers, report "
        f"under {args.report_dir}: {shlex.join(['pytest', *cmd[3:]])}",
        file=sys.stderr,
        flush=True,
    )
    return subprocess.call(cmd, cwd=root)
