"""Collection: one ``CaseItem`` per corpus case, named by its id, marked by its tags."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import pytest

from harness.corpus.cases import Case, CorpusError
from harness.plugin.caserun import RunSettings, run_case
from harness.plugin.state import STATE, HarnessState
from harness.report.repro import repro_command
from harness.report.result import CaseResult
from veritas.parent.console import visible
from veritas.parent.envcheck import check_environment
from veritas.parent.mode import ConfigError


def in_shard(case_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable subset by case-id hash: the N shards cover the corpus exactly once."""
    if shard is None:
        return True
    k, n = shard
    bucket = int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big") % n
    return bucket == k - 1


class CorpusDirectory(pytest.Directory):
    def collect(self) -> Iterable[pytest.Item]:
        state = self.config.stash[STATE]
        try:
            check_environment(need_browser=True)
        except ConfigError as exc:
            raise self.CollectError(f"cannot validate: {exc}") from None
        try:
            corpus = state.load_corpus()
        except CorpusError as exc:
            raise self.CollectError(f"broken corpus: {exc}") from None
        for case in corpus.cases:
            if not in_shard(case.id, state.options.shard):
                continue
            for tag in case.tags:
                self.config.addinivalue_line("markers", f"{tag}: corpus cases tagged {tag}")
            item = CaseItem.from_parent(self, name=case.id, case=case)
            for tag in case.tags:
                item.add_marker(tag)
            state.collected += 1
            yield item


class CaseFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.verdict)
        self.result = result


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        state: HarnessState = self.config.stash[STATE]
        url = self.case.target_url(state.server()) if self.case.site else self.case.target_url()
        settings = RunSettings(
            noise_runs=state.options.noise_runs,
            audit_timeout=state.options.audit_timeout,
            engine=state.options.engine,
            eager_noise=state.options.eager_noise,
            backend=state.backend() if state.options.through == "ws" else None,
        )
        result = run_case(self.case, url, settings, state.work_dir)
        state.results.append(result)
        self.user_properties.append(("verdict", result.verdict))
        if not result.passed:
            raise CaseFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, CaseFailure):
            return str(super().repr_failure(excinfo))
        r = excinfo.value.result
        state = self.config.stash[STATE]
        lines = [f"case {r.id}: {r.verdict.upper()}"]
        lines += [f"  {reason}" for reason in r.reasons]
        if r.first_difference_text:
            lines.append("  " + r.first_difference_text.replace("\n", "\n  "))
        for mode, run in (("stdout", r.runs.stdout), ("queue", r.runs.queue)):
            lines.append(
                f"  {mode}: {run.state}, {run.events} events, "
                f"by transport {run.events_by_transport}, exit {run.exit_code}"
            )
        stage_dir = state.options.report_dir / f"stage-{state.options.stage:g}" / state.run_id
        lines.append(f"  report: {stage_dir / 'index.html'}#case-{r.id}")
        lines.append(f"  repro: {repro_command(state.options.stage, state.options.corpus, r.id)}")
        return visible("\n".join(lines))  # site text may hold what a terminal cannot print

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.case.source, None, f"case {self.case.id}"
