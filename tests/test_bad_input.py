"""Bad input at every entry point: one clear line naming the problem, a documented exit code
(README, "Exit codes"), and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "VERITAS_METRICS_DB": str(tmp_path / "m.db"), **env}
    for name in ("QUEUE_IPC_MODE", "QUEUE_IPC_ROLLOUT", "VERITAS_IPC_FAULT"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    return [line for line in out.splitlines() if "error" in line.lower()]


VERITAS = ["-m", "veritas.cli", "audit", "http://127.0.0.1:9/"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"QUEUE_IPC_MODE": "maybe"}, "QUEUE_IPC_MODE='maybe' is invalid; accepted: queue"),
        ({"QUEUE_IPC_ROLLOUT": "1.5"}, "QUEUE_IPC_ROLLOUT='1.5' is invalid; accepted: a number"),
        ({"VERITAS_IPC_FAULT": "zap@3"}, "VERITAS_IPC_FAULT='zap@3' unknown; accepted: connect"),
        ({"VERITAS_IPC_FAULT": "drop@x"}, "N must be an integer"),
        ({"VERITAS_RENDERER": "gpu"}, "VERITAS_RENDERER='gpu' is not a renderer; accepted:"),
        ({"VERITAS_CHROMIUM": "/no/such/chromium"}, "is not an executable file; accepted:"),
        ({"VERITAS_RENDERER": "chromium", "PATH": "/nonexistent"}, "no Chromium was found"),
    ],
)
def test_veritas_audit_refuses_bad_settings(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    proc = run(VERITAS, tmp_path, **env)
    assert proc.returncode == 2
    lines = error_lines(proc)
    assert len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-m", "veritas.cli", "audit", "ftp://x/"], "scheme 'ftp' is not supported; accepted"),
        (["-m", "veritas.cli", "audit", "http://x/", "--tier", "huge"], "invalid choice: 'huge'"),
        (["-m", "veritas.cli", "audit", "http://x/", "--timeout", "soon"], "--timeout"),
        (
            ["-m", "veritas.cli", "audit", "http://x/", "--timeout", "-1"],
            "--timeout '-1' is invalid; accepted: seconds > 0",
        ),
    ],
)
def test_veritas_audit_refuses_bad_arguments(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = run(args, tmp_path)
    assert proc.returncode == 2
    lines = error_lines(proc)
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def broken_corpus(tmp_path: Path, text: str) -> Path:
    (tmp_path / "corpus" / "cases").mkdir(parents=True)
    (tmp_path / "corpus" / "cases" / "x.yaml").write_text(text)
    return tmp_path / "corpus"


@pytest.mark.parametrize(
    ("make_args", "env", "code", "needle"),
    [
        (lambda t: ["--stage", "0.7"], {}, 4, "--stage '0.7' is not a rollout stage; accepted"),
        (lambda t: ["--corpus", str(t / "none")], {}, 4, "corpus directory does not exist"),
        (lambda t: [], {"QUEUE_IPC_ROLLOUT": "abc"}, 4, "QUEUE_IPC_ROLLOUT='abc' is invalid"),
        (lambda t: [], {"VERITAS_RENDERER": "gpu"}, 4, "VERITAS_RENDERER='gpu'"),
        (
            lambda t: ["--corpus", str(broken_corpus(t, "id: x\ntier: [\n"))],
            {},
            2,
            "x.yaml: not valid YAML: while parsing a flow node expected the node content",
        ),
        (
            lambda t: [
                "--corpus",
                str(broken_corpus(t, "id: x\ntier: fast\ntags: [a]\nsite: s\n")),
            ],
            {},
            2,
            "field 'tier': 'fast' is not a tier; accepted:",
        ),
        (lambda t: [], {"PATH": "/nonexistent"}, 2, "no Chromium found"),
    ],
)
def test_stage_validation_refuses_bad_input(
    tmp_path: Path, make_args: object, env: dict[str, str], code: int, needle: str
) -> None:
    args = make_args(tmp_path)  # type: ignore[operator]
    proc = run(
        ["-m", "pytest", "harness/", "--co", "-q", "-p", "no:cacheprovider", *args], tmp_path, **env
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert needle in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def corrupted_run(tmp_path: Path, text: str) -> Path:
    run_dir = tmp_path / "reports" / "stage-0.1" / "20260101T000000000Z-1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.yaml").write_text(text)
    return run_dir


@pytest.mark.parametrize(
    ("make_args", "needle"),
    [
        (lambda t: ["review", str(corrupted_run(t, "{{{"))], "cannot read report: while parsing"),
        (
            lambda t: ["review", str(corrupted_run(t, "- a list"))],
            "not a stage report (expected a mapping)",
        ),
        (lambda t: ["review", str(t / "missing")], "cannot read report"),
        (lambda t: ["gate", "--to", "0.3"], "stage '0.3' is not a rollout stage; accepted"),
        (
            lambda t: [
                "--report-dir",
                str(corrupted_run(t, "{{{").parent.parent),
                "gate",
                "--to",
                "0.25",
            ],
            "cannot read report",
        ),
        (lambda t: ["selftest", "--case", "no_such_case"], "no_such_case"),
        (lambda t: ["flakes", "--runs", "0"], "--runs 0: must be >= 1"),
        (lambda t: ["failover", "--points", "0"], "--points 0: must be >= 1"),
        (lambda t: ["gen-corpus", "--cases", "3", str(t)], "already exists"),
        (lambda t: ["bench", "ipc", "--events", "1"], "--events must be >= 2"),
        (lambda t: ["bench", "harness", "--scale", "50,x"], "expected comma-separated case counts"),
    ],
)
def test_harness_commands_refuse_bad_input(tmp_path: Path, make_args: object, needle: str) -> None:
    args = make_args(tmp_path)  # type: ignore[operator]
    proc = run(["-m", "harness", "--report-dir", str(tmp_path / "r"), *args], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = error_lines(proc)
    assert len(lines) == 1 and needle in lines[0], proc.stdout + proc.stderr
