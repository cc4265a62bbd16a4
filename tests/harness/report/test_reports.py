"""Reports, the gate, the ledger and the harness CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main as harness_main
from harness.policy import PolicyError, load_policy
from harness.report import runs as report_runs
from harness.report.check import load_report
from harness.report.gate import ReportError, evaluate_run
from harness.report.page import render_html
from harness.report.provenance import code_version
from harness.report.result import CaseResult, StageReport, report_to_dict
from harness.report.writer import assemble, scope, staging, write_files
from harness.rollout import advance as ledger_cli
from harness.rollout import ledger
from harness.rollout.cohorts import CohortReport, MetricVerdict
from veritas.parent.engine import check_engine

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def case(cid: str, verdict: str = "match", transport: str = "queue", **extra: Any) -> CaseResult:
    run = {
        "state": "completed",
        "attested_transport": transport,
        "events": 10,
        "events_by_transport": {
            "queue": 10 if transport == "queue" else 0,
            "stdout": 0 if transport == "queue" else 10,
        },
        "duration_s": 0.5,
        "latency": {"p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0},
        "fallback_reason": None,
        "exit_code": 0,
    }
    stdout_run = {
        **run,
        "attested_transport": "stdout",
        "events_by_transport": {"queue": 0, "stdout": 10},
    }
    return CaseResult.from_dict(
        {
            "id": cid,
            "tier": "quick_scan",
            "tags": ["t"],
            "url": f"http://127.0.0.1/{cid}",
            "verdict": verdict,
            "reasons": [] if verdict == "match" else [HOSTILE],
            "first_difference": None,
            "first_difference_text": None,
            "runs": {"stdout": stdout_run, "queue": run, "noise": [stdout_run]},
            "screenshots": {"stdout": {}, "queue": {}},
            "digests": {"stdout": "d1", "queue": "d1" if verdict == "match" else "d2"},
            "normalization": {},
            "timing": {
                "audit_s": {"stdout": 0.5, "queue": 0.5, "noise": 0.5},
                "digest_s": 0.0,
                "compare_s": 0.0,
                "wall_s": 1.0,
            },
            **extra,
        }
    )


def report(
    cases: list[CaseResult],
    stage: float = 0.1,
    dirty: bool = False,
    commit: str | None = "abc",
    corpus: list[str] | None = None,
    environment: dict[str, str] | None = None,
    shard: list[int] | None = None,
    run_id: str = "20260101T000000000Z-1",
    run_group: str = "g1",
) -> StageReport:
    """A whole report, built the way the plugin builds one."""
    return assemble(
        stage=stage,
        run_id=run_id,
        run_group=run_group,
        prov={
            "code": {"commit": commit, "dirty": dirty, "digest": code_version()["digest"]},
            "corpus_digest": "d",
            "corpus_dirs": [],
            "python": "3.11",
            "platform": "x",
            "workers": 1,
            "argv": ["harness/"],
            "environment": environment or {},
        },
        corpus_cases=corpus if corpus is not None else [c.id for c in cases],
        cases=cases,
        settings={"noise_runs": 1, "audit_timeout": None, "shard": shard},
        timing={"wall_s": 1.0},
        normalization=[],
    )


GOOD = [case(f"c{i}") for i in range(10)]


def test_a_clean_run_passes_the_gate() -> None:
    assert report(GOOD)["gate"] == {"passed": True, "reasons": []}


@pytest.mark.parametrize(
    "cases, kwargs, fragment",
    [
        (GOOD[:9], {}, "queue ran 9 audits; the stage needs at least 10"),
        ([*GOOD[:9], case("bad", "mismatch")], {}, "1 mismatches"),
        ([*GOOD[:9], case("odd", "inconclusive")], {}, "1 inconclusive"),
        ([*GOOD[:9], case("fb", transport="stdout")], {}, "Queue runs not attested"),
        (GOOD, {"dirty": True}, "working tree was dirty"),
        (GOOD, {"commit": None}, "code version unknown"),
    ],
)
def test_each_gate_rule_fails_alone(
    cases: list[CaseResult], kwargs: dict[str, Any], fragment: str
) -> None:
    gate = report(cases, **kwargs)["gate"]
    assert not gate["passed"]
    assert len(gate["reasons"]) == 1 and fragment in gate["reasons"][0]


def test_a_failover_case_need_not_be_attested() -> None:
    cases = [*GOOD[:9], case("fo", transport="mixed", failover=True)]
    assert report(cases)["gate"]["passed"]


def test_schema_round_trip_and_hostile_strings_are_escaped(tmp_path: Path) -> None:
    r = report([*GOOD, case(HOSTILE, "mismatch")])
    write_files(tmp_path, r)
    assert report_to_dict(load_report(tmp_path)) == yaml.safe_load(
        yaml.safe_dump(report_to_dict(r), sort_keys=False)
    )
    page = (tmp_path / "index.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert render_html(r, tmp_path) == page


def test_corrupted_report_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "stage-0.1" / "20260101T000000000Z-1"
    run.mkdir(parents=True)
    (run / "report.yaml").write_text("stage: [unclosed")
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(run)
    assert harness_main(["--report-dir", str(tmp_path), "review"]) == 2
    err = capsys.readouterr().err
    assert "harness: error:" in err and "Traceback" not in err


def test_policy_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "stages.yaml"
    bad.write_text(
        "version: 1\nstages:\n  '0.1': {min_audits_per_mode: -1, max_mismatches: 0, "
        "max_inconclusive: 0, min_days_in_previous_stage: 0}\n"
    )
    with pytest.raises(PolicyError, match="min_audits_per_mode=-1"):
        load_policy(bad)


def _store(tmp_path: Path, r: StageReport) -> Path:
    run: Path = tmp_path / f"stage-{r['stage']:g}" / str(r["run_id"])
    run.mkdir(parents=True)
    write_files(run, r)
    return run


def _ledger(tmp_path: Path, *entries: tuple[float, str]) -> None:
    for s, d in entries:
        ledger.append(
            tmp_path, {"kind": "advance", "at": d, "by": "ann", "reason": "test", "stage": s}
        )


def _passing(stage: float, since: dt.datetime) -> CohortReport:
    return CohortReport(
        stage, since.isoformat(), "test", {}, [MetricVerdict("failure_rate", "PASS", "ok")], {}
    )


def _cohorts_unused(stage: float, since: dt.datetime) -> CohortReport:
    raise AssertionError("the cohorts are not needed for this decision")


def test_gate_refuses_an_unvalidated_previous_stage(tmp_path: Path) -> None:
    _ledger(tmp_path, (0.1, "2026-01-01T00:00:00+00:00"), (0.25, "2026-01-09T00:00:00+00:00"))
    (reason,) = ledger_cli.gate_reasons(tmp_path, 0.5, cohorts=_cohorts_unused)
    assert reason.startswith("stage 0.25 has not been validated: no stage run for stage 0.25")


def test_gate_days_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_cli, "current_checkout_problems", lambda r, engine=None: [])
    _store(tmp_path, report(GOOD))  # created now: fresh for the policy's days below
    now = dt.datetime.now(dt.UTC)
    _ledger(tmp_path, (0.1, (now - dt.timedelta(days=2)).isoformat()))
    (reason,) = ledger_cli.gate_reasons(tmp_path, 0.25, now=now, cohorts=_passing)
    assert "entered 2.0 days ago; the policy needs 7 days" in reason
    later = now + dt.timedelta(days=5)
    assert ledger_cli.gate_reasons(tmp_path, 0.25, now=later, cohorts=_passing) == []


def test_staleness_is_code_and_corpus_not_the_commit() -> None:
    current = report(GOOD, commit="0" * 40)
    current["provenance"]["corpus_digest"] = None  # no corpus directories: nothing to compare
    problems = report_runs.current_checkout_problems(current)
    assert [p for p in problems if p.startswith("stale")] == []
    other = report(GOOD)
    other["provenance"]["code"]["digest"] = "sha256:" + "0" * 64
    problems = report_runs.current_checkout_problems(other)
    assert any(p.startswith("stale: the code changed") for p in problems)


def test_advance_records_the_report_it_advanced_on_and_refuses_to_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_cli, "current_checkout_problems", lambda r, engine=None: [])
    # An empty report directory validates nothing: not even the first stage may be entered.
    go = ["--report-dir", str(tmp_path), "advance", "--by", "bob", "--reason", "soak ok"]
    assert harness_main([*go, "--to", "0.1"]) == 1
    assert "stage 0.1 has not been validated" in capsys.readouterr().out
    r = report(GOOD)
    r["provenance"]["author"] = "ann"
    run = _store(tmp_path, r)
    assert harness_main([*go, "--to", "0.1"]) == 0
    assert "QUEUE_IPC_ROLLOUT=0.1" in capsys.readouterr().out
    (entry,) = ledger.read_ledger(tmp_path)
    assert entry["stage"] == 0.1 and entry["validated_run"] == run.name
    assert entry["report_sha256"] == ledger_cli.report_sha256(run)
    assert entry["code_digest"] == code_version()["digest"]
    assert (entry["by"], entry["reason"], entry["report_author"]) == ("bob", "soak ok", "ann")
    assert entry["previous_stage"] is None and entry["prev_sha256"] is None
    assert entry["cohorts"] is None  # entering the first stage needs none
    # Advancing to the stage the rollout is in is refused: the soak does not restart.
    assert harness_main([*go, "--to", "0.1"]) == 1
    assert "already at stage 0.1" in capsys.readouterr().out
    assert harness_main([*go, "--to", "0.25"]) == 1
    assert len(ledger.read_ledger(tmp_path)) == 1


def _shards(tmp_path: Path) -> tuple[list[Path], StageReport]:
    cases = [*GOOD, case("x", "mismatch")]
    ids = [c.id for c in cases]
    a = report(cases[:5], corpus=ids, shard=[1, 2], run_id="20260101T000000000Z-1")
    b = report(cases[5:], corpus=ids, shard=[2, 2], run_id="20260101T000000001Z-2")
    return [_store(tmp_path, a), _store(tmp_path, b)], report(cases)


def test_a_shard_alone_does_not_gate_and_merging_every_shard_does(tmp_path: Path) -> None:
    runs, whole = _shards(tmp_path)
    shard = load_report(runs[0])
    assert not shard["scope"]["gating"] and not shard["gate"]["passed"]
    assert "shard 1/2" in shard["scope"]["not_gating"][0]
    assert harness_main(["--report-dir", str(tmp_path), "merge", *map(str, runs)]) == 0
    merged_dir = tmp_path / "stage-0.1" / "20260101T000000001Z-2-merged"
    merged = load_report(merged_dir)
    assert {c.id: c.verdict for c in merged["cases"]} == {c.id: c.verdict for c in whole["cases"]}
    assert merged["totals"] == whole["totals"] and merged["gate"] == whole["gate"]
    assert merged["scope"]["gating"]
    assert merged["provenance"]["argv"][0] == "merge"
    assert [s["shard"] for s in merged.get("shards") or []] == [[1, 2], [2, 2]]
    # review and gate take the merged run, not the newest shard.
    assert report_runs.latest_run(tmp_path, 0.1) == merged_dir
    assert report_runs.latest_run(tmp_path, 0.1, whole=True) == merged_dir
    # Merging again is safe: the merged run is replaced whole, nothing is left behind.
    assert harness_main(["--report-dir", str(tmp_path), "merge", *map(str, runs)]) == 0
    assert sorted(p.name for p in (tmp_path / "stage-0.1").iterdir()) == sorted(
        [r.name for r in runs] + [merged_dir.name]
    )


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda b: b.update(stage=0.25), "the runs differ in stage"),
        (lambda b: b.update(run_group="other"), "the runs differ in run group"),
        (lambda b: b["scope"].update(shard=[1, 2]), "need shards 1 to 2 once each, got 1/2, 1/2"),
    ],
)
def test_merge_refuses_what_is_not_one_whole_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, fragment: str
) -> None:
    cases = [*GOOD, case("x", "mismatch")]
    ids = [c.id for c in cases]
    a = report(cases[:5], corpus=ids, shard=[1, 2])
    b = report(cases[5:], corpus=ids, shard=[2, 2], run_id="20260101T000000001Z-2")
    change(b)
    b["scope"] = scope(ids, b["cases"], {}, b["scope"]["shard"])
    b["gate"] = evaluate_run(b, load_policy()[b["stage"]])
    b["policy"] = load_policy()[b["stage"]].to_dict()
    runs = [_store(tmp_path, a), _store(tmp_path, b)]
    assert harness_main(["--report-dir", str(tmp_path), "merge", *map(str, runs)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_a_subset_or_a_test_only_setting_cannot_gate() -> None:
    subset = report(GOOD[:10], corpus=[c.id for c in GOOD] + ["more"])
    assert not subset["gate"]["passed"]
    assert "ran 10 of the corpus's 11 cases" in subset["gate"]["reasons"][0]
    faulty = report(GOOD, environment={"VERITAS_IPC_FAULT": "delay@50"})
    assert faulty["gate"]["reasons"] == [
        "not a gating run: test-only setting in the run's environment: VERITAS_IPC_FAULT=delay@50"
    ]


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (
            lambda d: d["cases"][3].update(verdict="mismatch", reasons=["x"]),
            "verdict: 'mismatch', but the stream",
        ),
        (
            lambda d: d["totals"].update(cases=5),
            "totals.cases says 5, but the report's cases give 10",
        ),
        (
            lambda d: d["cases"][3].update(verdict="ignored", ignored_by=["anything"]),
            "'ignored' by 'anything', but the case's ignore rules record no rule of that name",
        ),
        (lambda d: d.update(totals=5), "totals: 5 is not of type 'object'"),
        (lambda d: d.update(stage="abc"), "stage: 'abc' is not one of"),
        (lambda d: d["provenance"].pop("code"), "provenance: 'code' is a required property"),
        (lambda d: d["gate"].update(passed=False), "gate.passed says false, but the report's"),
        (lambda d: d["scope"].update(gating=False), "scope.gating says false"),
        (lambda d: d.update(schema_version=1), "schema_version 1; accepted: 2"),
    ],
)
def test_review_and_gate_refuse_a_report_that_contradicts_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, fragment: str
) -> None:
    run = _store(tmp_path, report(GOOD))
    data = yaml.safe_load((run / "report.yaml").read_text())
    edit(data)
    (run / "report.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    _ledger(tmp_path, (0.1, "2026-01-01T00:00:00+00:00"))
    # (A report edited to say it cannot gate is not a whole run: the gate does not pick it.)
    commands = (
        (["review"],) if "scope.gating" in fragment else (["review"], ["gate", "--to", "0.25"])
    )
    for argv in commands:
        assert harness_main(["--report-dir", str(tmp_path), *argv]) == 2
        err = capsys.readouterr().err
        assert fragment in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_a_mismatch_of_hostile_strings_is_written_and_read_back(tmp_path: Path) -> None:
    hostile = "lone \ud800 pair \ud83d\ude00 nul \x00 ls \u2028 bom \ufeff \uffff <script>"
    bad = case(
        hostile,
        "mismatch",
        reasons=[hostile],
        first_difference_text=f"first divergence: {hostile!r}",
        first_difference={
            "index": 2,
            "type": "log",
            "phase": "scout",
            "lengths": [5, 5],
            "paths": [
                {
                    "path": "events[2]['detail']",
                    "change": "values_changed",
                    "left": hostile,
                    "right": hostile + "!",
                }
            ],
        },
    )
    r = report([*GOOD, bad])
    run = tmp_path / "stage-0.1" / "run"
    with staging(run) as tmp:
        write_files(tmp, r)
    back = load_report(run)
    (got,) = [c for c in back["cases"] if c.verdict == "mismatch"]
    assert got.first_difference is not None
    assert got.id == hostile and got.first_difference.paths[0]["left"] == hostile
    page = (run / "index.html").read_text(encoding="utf-8")
    summary = (run / "summary.md").read_text(encoding="utf-8")
    for text in (page, summary):
        assert "\\ud800" in text and "\\ud83d\\ude00" in text and "\\x00" in text
    assert page.count("<script>") == 1 and "&lt;script&gt;" in page  # the page's own script only


def test_a_failing_writer_leaves_no_partial_directory(tmp_path: Path) -> None:
    run = tmp_path / "stage-0.1" / "run"
    with pytest.raises(RuntimeError), staging(run) as tmp:
        (tmp / "report.yaml").write_text("partial")
        raise RuntimeError("writer failed")
    assert list((tmp_path / "stage-0.1").iterdir()) == []


def test_site_derived_file_names_never_leave_the_directory() -> None:
    from harness.plugin.caserun import safe_name

    for label in ("../../etc/passwd", "/abs/path", "a\\b", "..", "", "x" * 500, "日本語"):
        name = safe_name(label)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert 0 < len(name) <= 80
    assert safe_name("a/b") != safe_name("a_b")  # no collisions through replacement


def test_report_files_are_user_only(tmp_path: Path) -> None:
    import os
    import stat
    import sys

    if sys.platform == "win32":
        pytest.skip("POSIX permissions")
    write_files(tmp_path, report(GOOD))
    for name in ("report.yaml", "index.html", "summary.md"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600


def test_a_report_made_with_another_engine_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    toys = str(Path(__file__).resolve().parents[2] / "engines")
    monkeypatch.setenv("PYTHONPATH", toys)
    monkeypatch.delenv("VERITAS_ENGINE", raising=False)
    bundled = report(GOOD)  # made with the bundled engine (recorded, or absent: the same)
    assert report_runs.engine_problems(bundled) == []
    toy = report(GOOD)
    toy["provenance"]["engine"] = check_engine("toyengines:plain")
    (problem,) = report_runs.engine_problems(toy)
    assert problem.startswith("stale: the report was made with engine toyengines:plain, the ")
    assert "current engine is veritas.engine:run_audit" in problem
    assert report_runs.engine_problems(toy, "toyengines:plain") == []
    monkeypatch.setenv("VERITAS_ENGINE", "toyengines:plain")
    assert report_runs.engine_problems(toy) == []
    # The same spec with other source is another engine.
    toy["provenance"]["engine"]["source_digest"] = "sha256:" + "0" * 64
    (problem,) = report_runs.engine_problems(toy)
    assert "stale: engine toyengines:plain changed since the report was written" in problem


def test_a_report_listing_fewer_cases_than_its_corpus_holds_is_refused() -> None:
    from harness.corpus.cases import load_corpus
    from harness.paths import DEFAULT_CORPUS

    corpus = load_corpus([DEFAULT_CORPUS])
    ids = [c.id for c in corpus.cases]
    cases = [case(i) for i in ids[:12]]
    edited = report(cases, corpus=ids[:12])  # a subset, its case list cut down to match
    edited["provenance"]["corpus_dirs"] = [str(DEFAULT_CORPUS)]
    edited["provenance"]["corpus_digest"] = corpus.digest
    assert edited["scope"]["gating"]  # the report alone cannot tell
    problems = report_runs.current_checkout_problems(edited)
    assert any(
        p.startswith(
            f"scope.corpus_cases lists 12 cases, but its corpus (digest unchanged) holds {len(ids)}"
        )
        for p in problems
    ), problems
    whole = report([case(i) for i in ids], corpus=ids)
    whole["provenance"]["corpus_dirs"] = [str(DEFAULT_CORPUS)]
    whole["provenance"]["corpus_digest"] = corpus.digest
    assert not [p for p in report_runs.current_checkout_problems(whole) if "corpus" in p]
