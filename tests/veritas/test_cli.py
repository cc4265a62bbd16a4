"""The ``veritas`` command, run as a real subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STREAM = "synthetic:?events=60&png=3&unicode=1"


def veritas(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "veritas", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_json_output_is_one_object_and_attests_the_transport() -> None:
    q = veritas("audit", STREAM, "--use-queue-ipc", "--json")
    s = veritas("audit", STREAM, "--use-stdout", "--json")
    assert q.returncode == 0 and s.returncode == 0, q.stderr + s.stderr
    qj, sj = json.loads(q.stdout), json.loads(s.stdout)
    assert qj["state"] == sj["state"]
    assert qj["ipc"]["events_by_transport"] == {"queue": 60, "stdout": 0}
    assert qj["ipc"]["mode_used"] == "queue" and not qj["ipc"]["fallback"]
    assert sj["ipc"]["events_by_transport"] == {"queue": 0, "stdout": 60}


def test_validate_ipc_exits_zero_on_match() -> None:
    done = veritas("audit", STREAM, "--validate-ipc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: match" in done.stdout
    # progress on stderr, plain lines (not a terminal): each run, the comparison, the total
    lines = done.stderr.splitlines()
    assert [line[:6] for line in lines[:2]] == ["[1/3] ", "[2/3] "]
    # the two runs go at once: either may end first
    assert sorted(line[6:].split("  ")[0] for line in lines[:2]) == [
        "queue run: completed, 60 events",
        "stdout run: completed, 60 events",
    ]
    assert lines[2].startswith("[3/3] comparing the two streams: match  ")
    assert lines[3].startswith("veritas audit --validate-ipc: done, 3/3 in ") and len(lines) == 4


def test_validate_ipc_json_prints_no_progress() -> None:
    done = veritas("audit", STREAM, "--validate-ipc", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "match"
    assert done.stderr == ""


def test_validate_ipc_is_inconclusive_when_the_queue_fails_over() -> None:
    done = veritas("audit", STREAM, "--validate-ipc", env={"VERITAS_IPC_FAULT": "sever@10"})
    assert done.returncode == 1
    assert "verdict: inconclusive" in done.stdout and "not attested" in done.stdout


@pytest.mark.parametrize(
    "name, value, fragment",
    [
        (
            "QUEUE_IPC_ROLLOUT",
            "2",
            "QUEUE_IPC_ROLLOUT='2' is invalid; accepted: a number from 0.0 to 1.0",
        ),
        (
            "QUEUE_IPC_MODE",
            "turbo",
            "QUEUE_IPC_MODE='turbo' is invalid; accepted: queue, stdout, fallback",
        ),
    ],
)
def test_bad_environment_is_exit_2_with_one_clear_line(
    name: str, value: str, fragment: str
) -> None:
    done = veritas("audit", STREAM, env={name: value})
    assert done.returncode == 2
    assert fragment in done.stderr and "Traceback" not in done.stderr


def test_rollout_status_reports_from_the_metrics_store() -> None:
    veritas("audit", STREAM, "--use-queue-ipc", "--json")
    veritas("audit", STREAM, "--use-queue-ipc", "--json", env={"VERITAS_IPC_FAULT": "connect"})
    done = veritas("rollout", "status", "--json", env={"QUEUE_IPC_ROLLOUT": "0.25"})
    status = json.loads(done.stdout)
    assert status["stage"] == 0.25 and status["audits"] == 2
    assert status["audits_by_mode"] == {"queue": 1, "stdout": 1}
    assert status["fallbacks"] == 1


def test_rollout_status_takes_the_stage_from_the_ledger_and_counts_production_only(
    tmp_path: Path,
) -> None:
    import time

    from harness.rollout.ledger import append

    veritas("audit", STREAM, "--use-stdout", "--json")  # before the stage: not in its window
    time.sleep(0.05)
    ledger = Path(os.environ["VERITAS_LEDGER"]).parent
    at = dt.datetime.now(dt.UTC).isoformat()
    append(ledger, {"kind": "advance", "at": at, "by": "ann", "reason": "r", "stage": 0.25})
    quiet = veritas("rollout", "status", env={"QUEUE_IPC_ROLLOUT": "0.25"})
    assert quiet.returncode == 0 and "stage: 0.25 (from ledger)" in quiet.stdout
    assert "production audits (since " in quiet.stdout and "none yet" in quiet.stdout
    veritas("audit", STREAM, "--use-queue-ipc", "--json")
    veritas("audit", STREAM, "--validate-ipc")  # validation: never production
    done = veritas("rollout", "status", "--json", env={"QUEUE_IPC_ROLLOUT": "0.1"})
    status = json.loads(done.stdout)
    assert status["stage"] == 0.25 and status["stage_from"] == "ledger"
    assert status["disagreement"].startswith("the ledger says stage 0.25, but QUEUE_IPC_ROLLOUT")
    assert status["audits"] == 1 and status["audits_by_mode"] == {"queue": 1, "stdout": 0}
    assert status["success_rate_by_mode"] == {"queue": 1.0, "stdout": None}
    halted = at[:19] + "+00:00"
    append(ledger, {"kind": "halt", "at": halted, "by": "bo", "reason": "fallbacks", "stage": 0.25})
    text = veritas("rollout", "status").stdout
    assert "HALTED since" in text and "by bo: fallbacks" in text
    (ledger / "ROLLOUT.jsonl").write_text(
        (ledger / "ROLLOUT.jsonl").read_text().replace('"by":"ann"', '"by":"eve"')
    )
    tampered = json.loads(veritas("rollout", "status", "--json").stdout)
    assert "its sha256 does not match its content" in tampered["ledger_problem"]
    assert tampered["stage_from"] == "QUEUE_IPC_ROLLOUT"


def test_readable_summary_names_the_transport() -> None:
    done = veritas("audit", STREAM, "--use-queue-ipc")
    assert done.returncode == 0
    assert "used queue" in done.stdout and "queue 60 / stdout 0" in done.stdout


def test_json_state_of_a_real_audit_validates_against_the_schema() -> None:
    from pathlib import Path

    from jsonschema import Draft202012Validator

    root = Path(__file__).resolve().parents[2]
    page = (root / "tests/veritas/engine/pages/shop/index.html").as_uri()
    done = veritas("audit", page, "--use-queue-ipc", "--json", env={"VERITAS_RENDERER": "pillow"})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["ipc"]["events_by_transport"]["stdout"] == 0
    schema = json.loads((root / "veritas/state_schema.json").read_text())
    assert [e.message for e in Draft202012Validator(schema).iter_errors(out["state"])] == []


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "flag, env_value, first_words",
    [
        (
            "toyengines:missing",
            None,
            "veritas: error: --engine: engine 'toyengines:missing': module",
        ),
        (
            None,
            "toyengines:two_arguments",
            "veritas: error: VERITAS_ENGINE: engine 'toyengines:two_",
        ),
        ("no.such.pkg:audit", None, "veritas: error: --engine: engine 'no.such.pkg:audit': module"),
    ],
)
def test_a_bad_engine_is_exit_2_with_one_line_before_any_audit(
    flag: str | None, env_value: str | None, first_words: str
) -> None:
    env = {"PYTHONPATH": str(ROOT / "tests" / "engines")}
    if env_value:
        env["VERITAS_ENGINE"] = env_value
    done = veritas("audit", "http://127.0.0.1:9/", *(["--engine", flag] if flag else []), env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(first_words) and done.stderr.count("\n") == 1


def test_the_example_engine_validates_from_the_command_line(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<title>Caf\u00e9 \U0001f600</title><form action='http://x/'></form>")
    env = {"PYTHONPATH": str(ROOT / "examples" / "engines")}
    done = veritas(
        "audit", page.as_uri(), "--engine", "sitecheck:audit", "--validate-ipc", "--json", env=env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "match"
    assert result["queue"]["events_by_transport"] == {"queue": 12, "stdout": 0}
    assert result["stdout"]["events_by_transport"] == {"queue": 0, "stdout": 12}
