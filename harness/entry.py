"""The ``harness`` command's entry point: one line, not a traceback, when the harness's own
dependencies are not installed (``pip install veritas-ipc`` gives the auditor alone)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.util import find_spec

#: The harness extra's distributions, by the module each installs.
NEEDS = {"yaml": "pyyaml", "pytest": "pytest", "xdist": "pytest-xdist", "jsonschema": "jsonschema"}


def missing(find: Callable[[str], object] | None = None) -> list[str]:
    """The distributions of the harness extra that are not importable."""
    find = find or find_spec
    return [dist for module, dist in NEEDS.items() if find(module) is None]


def main(argv: Sequence[str] | None = None) -> int:
    absent = missing()
    if absent:
        print(
            f"harness: error: the harness needs {', '.join(absent)}, which this environment "
            "lacks; install the harness extra: pip install 'veritas-ipc[harness]'",
            file=sys.stderr,
        )
        return 2
    from harness.cli import main as cli_main

    return cli_main(argv)
