"""Checking every environment setting up front (parent side), so a bad value is one clear line.

Each variable is otherwise read where it is used, some of them only in the audit child, where
a mistake would surface as a crashed or failed audit. ``check_environment`` reads them all
before anything starts and raises ``ConfigError`` naming the variable, the value and what is
accepted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from veritas.child.faults import ENV as FAULT_ENV
from veritas.child.faults import FaultSpecError, parse_fault
from veritas.engine.screenshots import CHROMIUM_NAMES, RENDERERS
from veritas.parent.metrics import audit_purpose
from veritas.parent.mode import ConfigError, parse_mode_env, parse_rollout

INSTALL_HINT = "install it (Debian: apt-get install chromium) or set VERITAS_CHROMIUM to its path"


def chromium_path(env: Mapping[str, str]) -> str | None:
    """The Chromium the engine would use under *env*; ConfigError if VERITAS_CHROMIUM is bad."""
    explicit = env.get("VERITAS_CHROMIUM", "").strip()
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise ConfigError(
                f"VERITAS_CHROMIUM={explicit!r} is not an executable file; accepted: the path "
                f"of a Chromium binary, or unset to search PATH for {', '.join(CHROMIUM_NAMES)}"
            )
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    return None


def check_environment(env: Mapping[str, str] | None = None, *, need_browser: bool = False) -> None:
    """Raise ConfigError for the first bad setting. With *need_browser*, Chromium must be
    found unless ``VERITAS_RENDERER=pillow`` asks for the built-in renderer."""
    env = os.environ if env is None else env
    parse_mode_env(env)
    parse_rollout(env)
    audit_purpose(env)
    try:
        parse_fault(env.get(FAULT_ENV))
    except FaultSpecError as exc:
        raise ConfigError(str(exc)) from None
    raw = env.get("VERITAS_RENDERER", "")
    renderer = raw.strip().lower() or "auto"
    if renderer not in RENDERERS:
        raise ConfigError(
            f"VERITAS_RENDERER={raw!r} is not a renderer; accepted: {', '.join(RENDERERS)}"
        )
    browser = chromium_path(env)
    if browser is None and renderer == "chromium":
        raise ConfigError(f"VERITAS_RENDERER='chromium' but no Chromium was found: {INSTALL_HINT}")
    if browser is None and renderer == "auto" and need_browser:
        raise ConfigError(
            f"no Chromium found (looked on PATH for {', '.join(CHROMIUM_NAMES)}); the stage "
            f"validation renders every page with it: {INSTALL_HINT}, or set "
            "VERITAS_RENDERER=pillow to validate with the built-in renderer"
        )
