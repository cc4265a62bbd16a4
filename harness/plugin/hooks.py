"""The pytest plugin: ``pytest harness/ --stage S`` validates one rollout stage.

Collecting the ``harness/`` directory yields one item per corpus case (its name is the case
id, its tags are markers). Each item runs the case in both modes and passes only on
``match`` or ``ignored``. Each gives a ``CaseResult``; a worker publishes their plain form
through ``workeroutput``, the controller reads them back in ``pytest_testnodedown``, and only
the controller (or the single process without xdist) writes the stage report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.plugin.items import CorpusDirectory
from harness.plugin.options import HarnessOptions, add_options
from harness.plugin.state import STATE, HarnessState, is_worker, new_run_id, peak_rss_mb
from harness.report.result import CaseResult
from veritas.protocol.stdout_wire import dumps_exact, loads_exact

HARNESS_DIR = Path(__file__).resolve().parents[1]
WORKEROUTPUT_KEY = "veritas_harness_cases"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def in_use(config: pytest.Config) -> bool:
    """Whether this session validates: ``--stage`` or ``--corpus`` given, or ``harness/``
    (or a case in it) among the arguments. Otherwise the plugin does nothing at all, so a
    session that only loaded it never meets its settings checks."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return "veritas_run_id" in workerinput
    if config.getoption("--stage") is not None or config.getoption("--corpus"):
        return True
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HARNESS_DIR or HARNESS_DIR in path.parents:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    if not in_use(config):
        return
    options = HarnessOptions.from_config(config)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    run_id = workerinput.get("veritas_run_id") if workerinput else None
    config.stash[STATE] = HarnessState(
        options=options, run_id=run_id or new_run_id(), started=time.time()
    )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "veritas-harness-xdist")


class _XdistHooks:
    """Registered only when pytest-xdist is present (it defines these hooks)."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        # Also what tells a worker that the session validates (see in_use).
        node.workerinput["veritas_run_id"] = node.config.stash[STATE].run_id

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        raw = getattr(node, "workeroutput", {}).get(WORKEROUTPUT_KEY)
        if raw:
            state = node.config.stash[STATE]
            payload = loads_exact(raw)
            state.results.extend(CaseResult.from_dict(case) for case in payload["cases"])
            state.corpus_digest = state.corpus_digest or payload["corpus_digest"]
            state.worker_peak_rss_mb.append(payload.get("peak_rss_mb", 0.0))
            state.workers += 1


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.resolve() == HARNESS_DIR and STATE in parent.config.stash:
        return CorpusDirectory.from_parent(parent, path=path)
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None:
        return
    state.close_server()
    if is_worker(config):
        workeroutput: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
        # Exact JSON bytes: strings of audited pages (lone surrogates included) arrive as sent.
        workeroutput[WORKEROUTPUT_KEY] = dumps_exact(
            {
                "cases": [case.to_dict() for case in state.results],
                "corpus_digest": state.corpus_digest,
                "peak_rss_mb": peak_rss_mb(),
            },
            allow_nan=True,
        )
        return
    if state.collected or state.results:
        from harness.plugin.stage_report import write_stage_report

        state.report_path, state.report = write_stage_report(state)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or is_worker(config) or state.report is None or state.report_path is None:
        return
    from harness.report.writer import terminal_lines

    terminalreporter.section("Veritas IPC stage validation")
    for line in terminal_lines(state.report, state.report_path):
        terminalreporter.write_line(line)
