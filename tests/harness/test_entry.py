"""The ``harness`` command where the harness extra is not installed: one line and exit 2."""

from __future__ import annotations

import pytest

from harness import entry


def test_a_missing_dependency_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(entry, "find_spec", lambda name: None if name == "yaml" else object())
    assert entry.missing() == ["pyyaml"]
    monkeypatch.setattr(entry, "missing", lambda: ["pyyaml"])
    assert entry.main(["review"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "harness: error: the harness needs pyyaml, which this environment lacks; install the "
        "harness extra: pip install 'veritas-ipc[harness]'\n"
    )


def test_with_the_extra_the_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.missing() == []
    with pytest.raises(SystemExit) as done:
        entry.main(["--help"])
    assert done.value.code == 0 and "review" in capsys.readouterr().out
