"""The ledger's chain and the decisions it records: advance, halt, resume, rollback, status."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main as harness_main
from harness.policy import PolicyError, load_rollout_policy
from harness.report.writer import write_files
from harness.rollout import advance, ledger
from harness.rollout.cohorts import CohortReport, MetricVerdict, ModeCohort, Verdict

# The report builders of the report tests (imported by name at run time: mypy checks that file
# under its own name, and a static import would make it a second module).
_reports: Any = importlib.import_module("tests.harness.report.test_reports")
GOOD, report = _reports.GOOD, _reports.report


@pytest.fixture
def rollout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A report directory with a passing, fresh stage 0.1 run by ann; the checkout current."""
    monkeypatch.setattr(advance, "current_checkout_problems", lambda r, engine=None: [])
    r = report(GOOD, run_id="20260101T000000000Z-1")
    r["provenance"]["author"] = "ann"
    run = tmp_path / "stage-0.1" / str(r["run_id"])
    run.mkdir(parents=True)
    write_files(run, r)
    return tmp_path


def _cohorts(monkeypatch: pytest.MonkeyPatch, verdict: Verdict) -> None:
    def fake(args: Any) -> advance.Cohorts:
        def read(stage: float, since: dt.datetime) -> CohortReport:
            metric = MetricVerdict(
                "failure_rate", verdict, f"queue 9/100 vs stdout 1/100 ({verdict})"
            )
            return CohortReport(
                stage, since.isoformat(), "test", {"queue": ModeCohort("queue", 100)}, [metric], {}
            )

        return read

    monkeypatch.setattr(advance, "cohorts_of", fake)


def run(tmp: Path, *argv: str) -> int:
    return harness_main(["--report-dir", str(tmp), *argv])


def _backdate(tmp: Path, days: float) -> None:
    """Move every entry *days* into the past (re-chained: a legitimate older ledger)."""
    entries = ledger.read_ledger(tmp)
    (tmp / ledger.LEDGER).unlink()
    for e in entries:
        at = ledger.parse_time(e["at"], "") - dt.timedelta(days=days)
        body = {k: v for k, v in e.items() if k not in ("sha256", "prev_sha256")}
        ledger.append(tmp, {**body, "at": at.isoformat()})


def test_advance_records_who_why_and_the_chain(rollout: Path, capsys: Any) -> None:
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "validated") == 0
    assert run(rollout, "halt", "--by", "carol", "--reason", "fallbacks spiking") == 0
    first, second = ledger.read_ledger(rollout)
    assert first["by"] == "bob" and first["reason"] == "validated"
    assert first["report_sha256"].startswith("sha256:") and first["commit"]
    assert second["prev_sha256"] == first["sha256"] == ledger.entry_sha256(first)
    # One JSON object a line: the standard library reads it.
    lines = (rollout / ledger.LEDGER).read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["advance", "halt"]


def test_the_report_dir_may_follow_the_subcommand(rollout: Path) -> None:
    argv = ["advance", "--to", "0.1", "--by", "bob", "--reason", "validated"]
    assert harness_main([*argv, "--report-dir", str(rollout)]) == 0
    assert [e["stage"] for e in ledger.read_ledger(rollout)] == [0.1]


@pytest.mark.parametrize(
    "tamper, fragment",
    [
        (lambda es: es[0].update(by="mallory"), "entry 1 (advance to 0.1"),
        (lambda es: es[1].update(reason="nothing"), "entry 2 (halt to 0.1"),
        (lambda es: es.pop(0), "entry 1 (halt to 0.1"),
    ],
)
def test_a_tampered_ledger_is_refused_naming_the_entry(
    rollout: Path, capsys: Any, tamper: Any, fragment: str
) -> None:
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    assert run(rollout, "halt", "--by", "carol", "--reason", "spike") == 0
    path = rollout / ledger.LEDGER
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    tamper(entries)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    capsys.readouterr()
    for argv in (["gate", "--to", "0.25"], ["review"], ["status"]):
        assert run(rollout, *argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(rollout: Path) -> None:
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    assert run(rollout, "halt", "--by", "carol", "--reason", "spike") == 0
    path = rollout / ledger.LEDGER
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    entries[0]["by"] = "mallory"
    entries[0]["sha256"] = ledger.entry_sha256(entries[0])
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    with pytest.raises(ledger.LedgerError, match=r"entry 2 .*prev_sha256 .* does not match"):
        ledger.read_ledger(rollout)


def test_halt_refuses_an_advance_until_resume(
    rollout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cohorts(monkeypatch, "PASS")
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    assert run(rollout, "halt", "--by", "carol", "--reason", "fallbacks spiking") == 0
    _backdate(rollout, 8)
    capsys.readouterr()
    assert run(rollout, "advance", "--to", "0.25", "--by", "bob", "--reason", "soaked") == 1
    out = capsys.readouterr().out
    assert "advance to 0.25: REFUSED" in out
    assert "the rollout is halted since" in out and "by carol: fallbacks spiking" in out
    assert run(rollout, "halt", "--by", "carol", "--reason", "again") == 1
    assert run(rollout, "resume", "--by", "carol") == 0
    capsys.readouterr()
    assert run(rollout, "advance", "--to", "0.25", "--by", "bob", "--reason", "soaked") == 0
    assert "QUEUE_IPC_ROLLOUT=0.25" in capsys.readouterr().out
    entry = ledger.read_ledger(rollout)[-1]
    assert entry["previous_stage"] == 0.1 and entry["cohorts"]["verdict"] == "PASS"


@pytest.mark.parametrize("verdict", ["FAIL", "INCONCLUSIVE"])
def test_cohorts_that_do_not_pass_refuse_with_the_figures(
    rollout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, verdict: Verdict
) -> None:
    _cohorts(monkeypatch, verdict)
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    _backdate(rollout, 8)
    capsys.readouterr()
    assert run(rollout, "gate", "--to", "0.25") == 1
    out = capsys.readouterr().out
    assert "production cohorts of stage 0.1 since " in out
    assert f": {verdict} (failure_rate {verdict}: queue 9/100 vs stdout 1/100" in out


def test_self_approval_is_refused_unless_the_policy_allows_it(
    rollout: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any
) -> None:
    assert run(rollout, "advance", "--to", "0.1", "--by", "Ann", "--reason", "mine") == 1
    out = capsys.readouterr().out
    assert "Ann ran the validating run 20260101T000000000Z-1: self-approval is not allowed" in out
    assert not (rollout / ledger.LEDGER).exists()
    policy = tmp_path_factory.mktemp("p") / "stages.yaml"
    text = (Path(advance.__file__).parents[1] / "stages.yaml").read_text()
    policy.write_text(text.replace("author_may_approve: false", "author_may_approve: true"))
    monkeypatch.setattr(advance, "load_rollout_policy", lambda: load_rollout_policy(policy))
    assert run(rollout, "advance", "--to", "0.1", "--by", "ann", "--reason", "allowed") == 0


def test_a_validation_older_than_the_freshness_limit_cannot_be_used(
    rollout: Path, capsys: Any
) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    reasons = advance.gate_reasons(rollout, 0.1, now=later, cohorts=lambda s, d: None, by="bob")  # type: ignore[arg-type,return-value]
    (reason,) = reasons
    assert "days old; the policy accepts at most 14 (validate stage 0.1 again)" in reason


def test_rollback_is_recorded_and_prints_the_setting(rollout: Path, capsys: Any) -> None:
    assert run(rollout, "rollback", "--to", "0.1", "--by", "dan", "--reason", "x") == 1
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    ledger.append(
        rollout,
        {
            "kind": "advance",
            "at": "2026-01-09T00:00:00+00:00",
            "by": "bob",
            "reason": "r",
            "stage": 0.25,
        },
    )
    capsys.readouterr()
    assert run(rollout, "rollback", "--to", "0.1", "--by", "dan", "--reason", "errors up") == 0
    out = capsys.readouterr().out
    assert "rolled back from 0.25 to 0.1" in out and "QUEUE_IPC_ROLLOUT=0.1" in out
    last = ledger.read_ledger(rollout)[-1]
    assert (last["kind"], last["stage"], last["previous_stage"], last["by"]) == (
        "rollback",
        0.1,
        0.25,
        "dan",
    )
    state = ledger.rollout_state(rollout)
    assert state.stage == 0.1 and state.since is not None
    assert run(rollout, "rollback", "--to", "0.25", "--by", "dan", "--reason", "x") == 1


def test_status_shows_one_screen(rollout: Path, capsys: Any, tmp_path: Path) -> None:
    assert run(rollout, "status") == 0
    out = capsys.readouterr().out
    assert "rollout: not started" in out and "halted: no" in out
    assert "last validation: stage 0.1 run 20260101T000000000Z-1 (passed), by ann" in out
    assert "next: advance to 0.1 allowed" in out
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "ok") == 0
    assert run(rollout, "halt", "--by", "carol", "--reason", "spike") == 0
    capsys.readouterr()
    assert run(rollout, "status", "--metrics", str(tmp_path / "none.sqlite3")) == 0
    out = capsys.readouterr().out
    assert "rollout: stage 0.1 since" in out and "by advance of bob: ok" in out
    assert "HALTED since" in out and "by carol: spike" in out
    assert "cohorts: cannot be read: metrics store" in out
    assert "next: advance to 0.25 needs:" in out and "the rollout is halted" in out
    assert "2 entries, chain intact" in out


def test_a_legacy_ledger_is_refused_and_can_be_carried_over(rollout: Path, capsys: Any) -> None:
    old = {"advances": [{"stage": 0.1, "date": "2026-01-01T00:00:00+00:00", "validated_run": "r"}]}
    (rollout / "ROLLOUT.yaml").write_text(yaml.safe_dump(old))
    assert run(rollout, "gate", "--to", "0.25") == 2
    assert "previous format (no hash chain" in capsys.readouterr().err
    assert run(rollout, "migrate-ledger", "--by", "erin") == 0
    (entry,) = ledger.read_ledger(rollout)
    assert entry["stage"] == 0.1 and entry["validated_run"] == "r" and entry["by"] is None
    assert "by erin" in entry["reason"]
    assert (rollout / "ROLLOUT.yaml.migrated").exists()


def test_the_review_page_shows_the_ledger(rollout: Path) -> None:
    assert run(rollout, "advance", "--to", "0.1", "--by", "bob", "--reason", "<b>ok</b>") == 0
    run(rollout, "review")  # (its gate calls the test report stale: no matter here)
    page = next((rollout / "stage-0.1").iterdir()) / "index.html"
    html = page.read_text()
    assert '<h2 id="rollout">Rollout</h2>' in html and "&lt;b&gt;ok&lt;/b&gt;" in html


def test_the_rollout_policy_is_validated(tmp_path: Path) -> None:
    text = (Path(advance.__file__).parents[1] / "stages.yaml").read_text()
    bad = tmp_path / "stages.yaml"
    bad.write_text(text.replace("alpha: 0.05", "alpha: 0.7"))
    with pytest.raises(PolicyError, match=r"rollout: alpha=0.7; accepted: a number > 0 and < 0.5"):
        load_rollout_policy(bad)
    bad.write_text(text.replace("max_latency_p99_ratio: 1.5}", "max_latency_p99_ratio: 0.5}", 1))
    with pytest.raises(
        PolicyError, match=r"stage 0.1: max_latency_p99_ratio=0.5; accepted: a number >= 1"
    ):
        load_rollout_policy(bad)
    bad.write_text(text.replace("author_may_approve: false", "author_may_approve: maybe"))
    with pytest.raises(PolicyError, match="author_may_approve='maybe'; accepted: true or false"):
        load_rollout_policy(bad)


def _advanced(tmp: Path) -> None:
    ledger.append(
        tmp,
        {"kind": "advance", "at": "2026-01-01T00:00:00+00:00", "by": "bob", "reason": "ok"}
        | {"stage": 0.1, "previous_stage": None},
    )


def test_a_decision_waits_for_the_lock_and_decides_on_the_entry_made_meanwhile(
    tmp_path: Path,
) -> None:
    """carol's halt starts while another decision holds the lock; that decision records a halt
    and lets go. carol's command must decide on the ledger as it is then (already halted:
    refused), not on what it would have read before waiting (two halts chained to one entry)."""
    import subprocess
    import sys

    _advanced(tmp_path)
    root = Path(__file__).parents[3]
    halt = ["halt", "--by", "carol", "--reason", "spike"]
    with ledger.decision_lock(tmp_path):
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "--report-dir", str(tmp_path), *halt],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        waiting = proc.stderr.readline()  # blocks until carol's command is at the lock
        assert "waiting for the ledger's lock" in waiting and f"pid {os.getpid()}" in waiting
        ledger.append(
            tmp_path,
            {"kind": "halt", "at": "2026-01-02T00:00:00+00:00", "by": "dan", "reason": "first"}
            | {"stage": 0.1, "previous_stage": 0.1},
        )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "already halted since 2026-01-02" in out
    assert [e["by"] for e in ledger.read_ledger(tmp_path)] == ["bob", "dan"]


def test_a_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    import fcntl

    _advanced(tmp_path)
    with open(tmp_path / ledger.LOCK, "w") as other:  # another process's open file, in effect
        fcntl.flock(other, fcntl.LOCK_EX)
        too_long = pytest.raises(ledger.LedgerError, match=r"lock for over 0.2 s")
        with too_long, ledger.decision_lock(tmp_path, wait_s=0.2):
            pass
    with ledger.decision_lock(tmp_path, wait_s=0.2):  # free again
        assert (tmp_path / ledger.LOCK).read_text().startswith(f"pid {os.getpid()}")


def test_the_windows_lock_locks_the_first_byte_with_msvcrt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The win32 branch, selected on Linux with a stand-in msvcrt: busy once, then locked, and
    unlocked at the end."""
    import sys
    import types

    calls: list[tuple[int, int]] = []
    fake: Any = types.ModuleType("msvcrt")
    fake.LK_NBLCK, fake.LK_UNLCK = 2, 0

    def locking(fd: int, mode: int, nbytes: int) -> None:
        calls.append((mode, os.lseek(fd, 0, os.SEEK_CUR)))
        if len(calls) == 1:
            raise OSError(36, "Resource deadlock avoided")

    fake.locking = locking
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    with ledger.decision_lock(tmp_path, wait_s=5, platform="win32"):
        assert len(calls) == 2
    assert calls == [(2, 0), (2, 0), (0, 0)]
