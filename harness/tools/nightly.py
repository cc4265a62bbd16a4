"""``harness nightly``: validate the current stage with xdist (what a schedule calls)."""

from __future__ import annotations

import argparse
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
    return subprocess.call(cmd, cwd=root)
