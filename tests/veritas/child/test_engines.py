"""Engines from outside: the spec check, the protocol an engine must keep, and real audits
through both transports with engines that know nothing of ``veritas``."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from veritas.child.engines import BUNDLED_ENGINE, EngineSpecError, describe_engine, load_engine
from veritas.parent.collect import CollectedAudit, collect
from veritas.parent.engine import check_engine, engine_spec, resolve_engine
from veritas.parent.mode import ConfigError, Mode
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import EventError, check_order
from veritas.protocol.sinks import ListSink

ENGINES = Path(__file__).resolve().parents[2] / "engines"
ENV = {**os.environ, "PYTHONPATH": str(ENGINES)}


@pytest.fixture
def toy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ENGINES))


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("toyengines", "is not a spec; accepted: package.module:function"),
        ("toy engines:plain", "is not a spec"),
        (
            "no_such_module_x:audit",
            "module 'no_such_module_x' cannot be imported (ModuleNotFoundError",
        ),
        ("toyengines:missing", "module 'toyengines' has no 'missing'"),
        (
            "toyengines:NOT_CALLABLE",
            "'NOT_CALLABLE' is a int, not callable as audit(url, tier, emit)",
        ),
        (
            "toyengines:two_arguments",
            "cannot be called as audit(url, tier, emit) (too many positional",
        ),
    ],
)
def test_a_bad_spec_is_one_line_naming_it(toy_path: None, spec: str, fragment: str) -> None:
    with pytest.raises(EngineSpecError) as info:
        load_engine(spec)
    message = str(info.value)
    assert fragment in message and f"{spec!r}" in message and "\n" not in message


def test_precedence_is_flag_then_variable_then_the_bundled_engine() -> None:
    env = {"VERITAS_ENGINE": "toyengines:plain"}
    assert engine_spec("toyengines:asynchronous", env) == "toyengines:asynchronous"
    assert engine_spec(None, env) == "toyengines:plain"
    assert engine_spec(None, {}) == BUNDLED_ENGINE


def test_the_parent_checks_in_a_child_interpreter_and_names_the_source() -> None:
    info = check_engine("toyengines:plain", ENV)
    assert info["spec"] == "toyengines:plain" and info["version"] == "unpackaged"
    assert info["distribution"] is None and info["source_digest"].startswith("sha256:")
    # The check sees what the audit child will see (its PYTHONPATH), not this process's path.
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with pytest.raises(ConfigError, match="module 'toyengines' cannot be imported"):
        check_engine("toyengines:plain", bare)
    with pytest.raises(ConfigError, match=r"^VERITAS_ENGINE: engine 'toyengines:missing'"):
        resolve_engine(None, {**ENV, "VERITAS_ENGINE": "toyengines:missing"})
    with pytest.raises(ConfigError, match=r"^--engine: engine 'toyengines:NOT_CALLABLE'"):
        resolve_engine("toyengines:NOT_CALLABLE", ENV)


def test_the_bundled_engine_is_described_by_its_distribution() -> None:
    info = check_engine(BUNDLED_ENGINE)
    assert info["spec"] == BUNDLED_ENGINE and info["distribution"] == "veritas-ipc"


def test_an_edited_engine_gets_another_source_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    source = "def audit(url, tier, emit):\n    pass\n"
    (tmp_path / "edited_engine_mod.py").write_text(source)
    first = describe_engine("edited_engine_mod:audit")
    del sys.modules["edited_engine_mod"]
    (tmp_path / "edited_engine_mod.py").write_text(source + "# changed\n")
    assert describe_engine("edited_engine_mod:audit")["source_digest"] != first["source_digest"]


@pytest.mark.parametrize(
    "types, fragment",
    [
        (["finding"], "an audit begins with 'audit_start'"),
        (["audit_start", "audit_start"], "a second 'audit_start'"),
        (["audit_start", "audit_complete", "log"], "nothing follows an audit's end"),
        (["audit_start", "audit_error", "audit_complete"], "nothing follows an audit's end"),
    ],
)
def test_the_order_of_an_audit_is_enforced(types: list[str], fragment: str) -> None:
    sink = ListSink()
    with pytest.raises(EventError, match=fragment):
        for t in types:
            sink.emit(t, "any_phase")


def test_any_engine_phase_identifier_is_accepted_and_only_identifiers() -> None:
    check_order(None, "audit_start")
    sink = ListSink()
    sink.emit("audit_start", "warm_up")
    sink.emit("phase_start", "count_words_2")
    for bad in ("Warm", "2nd", "with-dash", "", "ünicode"):
        with pytest.raises(EventError, match=r"is not a phase identifier; accepted: \[a-z\]"):
            sink.emit("log", bad)


def _audit(spec: str, mode: Mode, **kwargs: Any) -> CollectedAudit:
    runner = AuditRunner(
        "http://127.0.0.1:9/toy",
        mode=mode,
        engine=spec,
        env=ENV,
        timeout=60,
        **kwargs,
    )
    return asyncio.run(collect(runner))


def _both(spec: str, **kwargs: Any) -> tuple[CollectedAudit, CollectedAudit]:
    s, q = _audit(spec, "stdout", **kwargs), _audit(spec, "queue", **kwargs)
    n_s, n_q = len(s.events), len(q.events)
    # Attested: each mode's events came over its own transport.
    assert s.outcome.events_by_transport == {"queue": 0, "stdout": n_s}
    assert q.outcome.events_by_transport == {"queue": n_q, "stdout": 0}
    return s, q


def _plain(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.type, e.phase, e.step, e.detail, e.summary) for e in events]


@pytest.mark.slow
def test_an_engine_with_its_own_phases_runs_alike_in_both_modes() -> None:
    s, q = _both("toyengines:plain")
    assert [e.phase for e in s.events] == [
        "warm_up",
        "count_words",
        "count_words",
        "count_words",
        "done",
    ]
    assert _plain(s.events) == _plain(q.events)
    assert s.outcome.state == q.outcome.state == "completed"
    assert s.events[-1].summary == {
        "url": "http://127.0.0.1:9/toy",
        "tier": "quick_scan",
        "score": 7,
    }


@pytest.mark.slow
def test_an_async_engine_runs_under_asyncio() -> None:
    s, q = _both("toyengines:asynchronous")
    assert s.events[1].summary == {"loop": "_UnixSelectorEventLoop"}
    assert _plain(s.events) == _plain(q.events) and s.events[-1].summary == {"async": True}


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec, error_type, types",
    [
        ("toyengines:raises", "RuntimeError", ["audit_start", "phase_start", "audit_error"]),
        ("toyengines:raises_at_once", "LookupError", ["audit_start", "audit_error"]),
        ("toyengines:no_end", "EngineProtocolError", ["audit_start", "log", "audit_error"]),
        ("toyengines:finding_first", "EventError", ["audit_start", "audit_error"]),
        ("toyengines:bad_phase", "EventError", ["audit_start", "audit_error"]),
    ],
)
def test_an_engine_that_fails_ends_in_an_internal_audit_error_in_both_modes(
    spec: str, error_type: str, types: list[str]
) -> None:
    s, q = _both(spec)
    for audit in (s, q):
        assert [e.type for e in audit.events] == types
        assert audit.events[-1].summary["error"] == {"kind": "internal", "type": error_type}
        assert audit.outcome.state == "failed" and audit.outcome.exit_code == 3
    assert _plain(s.events) == _plain(q.events)


@pytest.mark.slow
def test_an_event_after_the_end_is_refused_and_the_end_stands() -> None:
    s, q = _both("toyengines:after_the_end")
    for audit in (s, q):
        assert [e.type for e in audit.events] == ["audit_start", "audit_complete"]
        assert audit.outcome.exit_code == 3


@pytest.mark.slow
def test_an_engine_that_takes_request_timeout_is_given_it() -> None:
    s = _audit("toyengines:with_timeout", "queue", request_timeout=7.5)
    assert s.events[-1].summary == {"request_timeout": 7.5}
    assert s.outcome.events_by_transport == {"queue": 2, "stdout": 0}
