"""Reports, the gate, the ledger and the harness CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import ledger_cli
from harness.cli import main as harness_main
from harness.gate import ReportError, evaluate_run
from harness.html import render_html
from harness.policy import PolicyError, load_policy
from harness.provenance import code_version
from harness.report import SCHEMA_VERSION, load_report, totals, write_files

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def case(
    cid: str, verdict: str = "match", transport: str = "queue", **extra: Any
) -> dict[str, Any]:
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
    return {
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
        "normalization": {},
        "timing": {
            "audit_s": {"stdout": 0.5, "queue": 0.5, "noise": 0.5},
            "digest_s": 0.0,
            "compare_s": 0.0,
            "wall_s": 1.0,
        },
        **extra,
    }


def report(
    cases: list[dict[str, Any]], stage: float = 0.1, dirty: bool = False, commit: str | None = "abc"
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "run_id": "20260101T000000000Z-1",
        "provenance": {
            "code": {"commit": commit, "dirty": dirty},
            "corpus_digest": "d",
            "corpus_dirs": [],
            "python": "3.11",
            "platform": "x",
            "workers": 1,
        },
        "policy": load_policy()[stage].to_dict(),
        "normalization": [],
        "cases": cases,
        "totals": totals(cases),
        "timing": {"wall_s": 1.0},
    }
    r["gate"] = evaluate_run(r, load_policy()[stage])
    return r


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
    cases: list[dict[str, Any]], kwargs: dict[str, Any], fragment: str
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
    assert load_report(tmp_path) == yaml.safe_load(yaml.safe_dump(r))
    page = (tmp_path / "index.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert render_html(r, tmp_path) == page


def test_the_page_shows_which_transport_delivered_which_events(tmp_path: Path) -> None:
    fo = case("fo", transport="mixed", failover=True)
    fo["runs"]["queue"]["transport_runs"] = [["queue", 0, 50], ["stdout", 50, 69]]
    page = render_html(report([*GOOD, fo]), tmp_path)
    assert "queue 0–49 · stdout 50–118" in page


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


def _store(tmp_path: Path, r: dict[str, Any]) -> Path:
    run: Path = tmp_path / f"stage-{r['stage']:g}" / str(r["run_id"])
    run.mkdir(parents=True)
    write_files(run, r)
    return run


def test_gate_refuses_an_unvalidated_previous_stage(tmp_path: Path) -> None:
    reasons = ledger_cli.gate_reasons(tmp_path, 0.5)
    assert reasons == [f"stage 0.25 has not been validated (no run under {tmp_path}/stage-0.25)"]


def test_gate_days_rule_and_stale_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_cli, "current_checkout_problems", lambda r: [])
    _store(tmp_path, report(GOOD))
    (tmp_path / "ROLLOUT.yaml").write_text(
        yaml.safe_dump({"advances": [{"stage": 0.1, "date": "2026-01-01T00:00:00+00:00"}]})
    )
    soon = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    (reason,) = ledger_cli.gate_reasons(tmp_path, 0.25, now=soon)
    assert "entered 2.0 days ago; the policy needs 7 days" in reason
    assert ledger_cli.gate_reasons(tmp_path, 0.25, now=dt.datetime(2026, 1, 9, tzinfo=dt.UTC)) == []


def test_a_report_of_another_commit_is_stale() -> None:
    problems = ledger_cli.current_checkout_problems(report(GOOD, commit="0" * 40))
    assert any(p.startswith("stale: report is of commit 000000000000") for p in problems)


def test_advance_appends_to_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_cli, "current_checkout_problems", lambda r: [])
    assert harness_main(["--report-dir", str(tmp_path), "advance", "--to", "0.1"]) == 0
    assert "QUEUE_IPC_ROLLOUT=0.1" in capsys.readouterr().out
    _store(tmp_path, report(GOOD))
    assert (
        harness_main(["--report-dir", str(tmp_path), "advance", "--to", "0.25"]) == 1
    )  # days rule
    ledger = yaml.safe_load((tmp_path / "ROLLOUT.yaml").read_text())["advances"]
    assert [e["stage"] for e in ledger] == [0.1]
    assert ledger[0]["commit"] == code_version()["commit"]


def test_merging_two_shards_gives_the_unsharded_verdicts(tmp_path: Path) -> None:
    a, b = report(GOOD[:5]), report([*GOOD[5:], case("x", "mismatch")])
    b["run_id"] = "20260101T000000001Z-2"
    runs = [_store(tmp_path, a), _store(tmp_path, b)]
    assert harness_main(["--report-dir", str(tmp_path), "merge", *map(str, runs)]) == 0
    merged = load_report(tmp_path / "stage-0.1" / f"{a['run_id']}-merged")
    whole = report([*GOOD, case("x", "mismatch")])
    assert {c["id"]: c["verdict"] for c in merged["cases"]} == {
        c["id"]: c["verdict"] for c in whole["cases"]
    }
    assert merged["totals"] == whole["totals"] and merged["gate"] == whole["gate"]


def test_merge_refuses_a_mix(tmp_path: Path) -> None:
    a, b = report(GOOD[:5]), report(GOOD[5:], stage=0.25)
    runs = [_store(tmp_path, a), _store(tmp_path, b)]
    assert harness_main(["--report-dir", str(tmp_path), "merge", *map(str, runs)]) == 2


def test_site_derived_file_names_never_leave_the_directory() -> None:
    from harness.caserun import safe_name

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
