"""The child's test-only record of accepted events: one line per put that returned."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.provenance import test_only_settings as settings_that_cannot_gate
from veritas.child.emitter import Emitter
from veritas.child.seqlog import ENV, SeqLog, read_seq_log, seq_log_from_env


def test_the_emitter_records_each_event_after_it_was_written(tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    log = SeqLog(str(tmp_path / "seq"))
    with out.open("wb") as stdout:
        emitter = Emitter("a", stdout, seq_log=log)
        emitter.emit("audit_start", "init")
        emitter.emit("log", "scout")
        emitter.emit("audit_complete", "complete", summary={})
    log.close()
    assert read_seq_log(tmp_path / "seq") == [0, 1, 2]
    assert out.read_bytes().count(b"\n") == 3


def test_the_record_is_off_unless_the_variable_names_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert seq_log_from_env() is None
    monkeypatch.setenv(ENV, str(tmp_path / "seq"))
    log = seq_log_from_env()
    assert log is not None and log.path == str(tmp_path / "seq")
    log.close()


def test_the_record_is_a_test_only_setting() -> None:
    assert settings_that_cannot_gate({ENV: "/tmp/x"}) == [f"{ENV}=/tmp/x"]
