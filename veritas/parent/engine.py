"""Which engine the audits run, and the check that it is usable before any audit starts.

Precedence: the ``--engine`` flag, then ``VERITAS_ENGINE``, then the bundled engine. A spec is
checked in a child interpreter started as the audit child is (``python -P`` with the child's
``PYTHONPATH``), so it is imported where the audits will import it and never in the parent;
that check also describes the engine for a report (``veritas.child.engines.describe_engine``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.mode import ConfigError
from veritas.parent.runner import child_pythonpath

#: How long importing an engine may take before the check gives up.
CHECK_TIMEOUT_S = 60.0


def engine_spec(flag: str | None, env: Mapping[str, str] | None = None) -> str:
    """The engine the audits run: *flag*, else ``VERITAS_ENGINE``, else the bundled one."""
    env = os.environ if env is None else env
    if flag:
        return flag
    return env.get(ENGINE_ENV, "").strip() or BUNDLED_ENGINE


def _bundled() -> dict[str, Any]:
    try:
        version: str | None = metadata.version("veritas-ipc")
    except metadata.PackageNotFoundError:
        version = "unpackaged"
    # The code digest of a report already covers the bundled engine's source.
    return {
        "spec": BUNDLED_ENGINE,
        "distribution": "veritas-ipc",
        "version": version,
        "source_digest": None,
    }


def check_engine(
    spec: str, env: Mapping[str, str] | None = None, python: str = sys.executable
) -> dict[str, Any]:
    """The description of the engine *spec* names; ConfigError (one line naming the spec and
    what is wrong) if the audit child could not run it."""
    if spec == BUNDLED_ENGINE:
        return _bundled()
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = child_pythonpath(child_env)
    try:
        done = subprocess.run(
            [python, "-P", "-m", "veritas.child.engines", spec],
            env=child_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"engine {spec!r}: importing it took more than {CHECK_TIMEOUT_S:g} s"
        ) from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise ConfigError(
            lines[-1] if lines else f"engine {spec!r}: check exited {done.returncode}"
        )
    description: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return description


def resolve_engine(
    flag: str | None, env: Mapping[str, str] | None = None, flag_name: str = "--engine"
) -> tuple[str, dict[str, Any]]:
    """The engine spec the audits run (``engine_spec``) and its description (``check_engine``);
    ConfigError names where a bad spec came from (the flag or ``VERITAS_ENGINE``)."""
    env = os.environ if env is None else env
    spec = engine_spec(flag, env)
    try:
        return spec, check_engine(spec, env)
    except ConfigError as exc:
        source = flag_name if flag else ENGINE_ENV
        raise ConfigError(f"{source}: {exc}") from None
