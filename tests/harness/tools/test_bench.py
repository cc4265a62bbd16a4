"""``harness bench ipc``: the documented JSON, every transport moving every event, and the
Queue figures really measured over the Queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.tools.bench import paired_p99

ROOT = Path(__file__).resolve().parents[3]


def bench_ipc(tmp_path: Path, events: int, **env: str) -> dict[str, Any]:
    """``harness bench ipc --json`` with one repeat; its result."""
    full_env = {k: v for k, v in os.environ.items() if k != "VERITAS_IPC_FAULT"} | env
    args = ["--report-dir", str(tmp_path), "bench", "ipc", "--events", str(events), "--repeats"]
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args, "1", "--json"],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_bench_ipc_json_and_attestation(tmp_path: Path) -> None:
    result = bench_ipc(tmp_path, 300)
    assert (result["events"], result["payload"], result["repeats"]) == (300, "small", 1)
    assert set(result["modes"]) == {"stdout", "queue", "pipe"}
    for mode, m in result["modes"].items():
        assert m["events_per_s"] > 0 and 0 < m["p50_ms"] <= m["p99_ms"]
        assert m["events_per_run"] == [300]
        assert len(m["p99_runs_ms"]) == 1 and m["p99_runs_ms"][0] == m["p99_ms"]
        assert m["attested"] == [mode], f"{mode} events came over {m['attested']}"
    assert result["p99_paired"]["pairs"] == 1
    written = list((tmp_path / "bench").glob("*-ipc-small.yaml"))
    assert len(written) == 1 and yaml.safe_load(written[0].read_text()) == result


def test_a_queue_that_falls_back_shows_in_the_bench(tmp_path: Path) -> None:
    result = bench_ipc(tmp_path, 50, VERITAS_IPC_FAULT="connect")
    assert result["modes"]["queue"]["attested"] == ["stdout"]


def test_paired_p99_compares_repeat_by_repeat_with_a_sign_test() -> None:
    result = {"modes": {"queue": {"p99_runs_ms": [1.0, 2.0, 3.0, 0.5]},
                        "stdout": {"p99_runs_ms": [2.0, 2.0, 1.0, 1.0]}}}  # fmt: skip
    paired = paired_p99(result)
    assert paired["ratios"] == [0.5, 1.0, 3.0, 0.5]
    assert (paired["not_above"], paired["pairs"], paired["median_ratio"]) == (3, 4, 0.75)
    assert paired["sign_test_p"] == (4 + 1) / 16  # 3 or 4 of 4 pairs by chance
