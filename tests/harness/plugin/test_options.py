"""The harness's pytest options say what they do: ``--audit-timeout``'s help states the
default the runs really get."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.plugin.options import add_options
from veritas.parent.collect import audit_timeout_for


class _Options:
    """Records what ``add_options`` registers (the parser's and the group's one method each)."""

    def __init__(self) -> None:
        self.help: dict[str, str] = {}

    def getgroup(self, name: str, description: str = "") -> _Options:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        for name in names:
            self.help[name] = kwargs.get("help", "")


def test_every_option_has_help() -> None:
    options = _Options()
    add_options(options)  # type: ignore[arg-type]
    assert options.help and all(options.help.values())


@pytest.mark.parametrize("timeout", [1.0, 6.0, 20.0, 60.0, 600.0])
def test_the_audit_timeout_help_states_the_real_default(timeout: float) -> None:
    options = _Options()
    add_options(options)  # type: ignore[arg-type]
    stated = re.search(
        r"max\((\d+), (\d+) x the case's timeout \+ (\d+)\)", options.help["--audit-timeout"]
    )
    assert stated is not None, options.help["--audit-timeout"]
    floor, factor, margin = (float(g) for g in stated.groups())
    assert audit_timeout_for(timeout) == max(floor, factor * timeout + margin)
