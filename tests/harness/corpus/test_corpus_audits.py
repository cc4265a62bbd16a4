"""Every bundled case, audited once in process (Pillow renderer), meets its expectations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.corpus.cases import Case, load_corpus
from harness.corpus.expectations import check_expectations
from harness.corpus.siteserver import SiteServer, serve_sites
from veritas.engine import run_audit
from veritas.protocol.event import ProgressEvent
from veritas.protocol.sinks import ListSink

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
CASES = load_corpus([FIXTURES]).cases


@pytest.fixture(scope="module")
def server() -> Iterator[SiteServer]:
    with serve_sites(FIXTURES / "sites") as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_meets_its_expectations(
    case: Case, server: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    sink = ListSink()
    run_audit(case.target_url(server), case.tier, sink.emit, request_timeout=case.timeout)
    assert check_expectations(case, sink.events) == []


def test_a_broken_expectation_is_reported() -> None:
    case = next(c for c in CASES if c.expect.min_events)
    events = [ProgressEvent("t", 0, "audit_error", "complete", summary={"error": {"kind": "x"}})]
    problems = check_expectations(case, events)
    assert any("expected at least" in p for p in problems)
