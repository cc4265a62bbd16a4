"""``harness bench ipc``: the documented JSON, every transport moving every event, and the
Queue figures really measured over the Queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.tools.bench import paired_p99, run_ipc_bench, table, vs_floor
from harness.tools.benchpeers import zmq_available

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


def test_peers_run_side_by_side_and_print_their_ratio_to_the_floor() -> None:
    result = run_ipc_bench(120, "small", 0.0, 1, peers=True)
    modes = result["modes"]
    expected = {"stdout", "queue", "pipe", "floor", "mp_queue", "zmq", "zmq_batched"}
    if not zmq_available():  # pragma: no cover - the dev extra installs pyzmq
        expected -= {"zmq", "zmq_batched"}
    assert set(modes) == expected
    for mode, m in modes.items():
        assert m["events_per_run"] == [120], mode
        assert m["attested"] == [mode], f"{mode} events came over {m['attested']}"
        low, high = m["spread"]["events_per_s"]
        assert low == high == m["events_per_s"] > 0  # one repeat: no spread
    vs = result["peers"]["vs_floor"]
    assert vs["floor"] == 1.0
    assert vs["queue"] == round(modes["queue"]["events_per_s"] / modes["floor"]["events_per_s"], 3)
    text = table(result)
    for mode in expected:
        assert f"\n{mode} " in text and f"{vs[mode]:.2f}x" in text


def test_peers_without_pyzmq_run_the_others_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zmq", None)  # import zmq now raises ImportError
    assert not zmq_available()
    result = run_ipc_bench(60, "small", 0.0, 1, peers=True)
    assert set(result["modes"]) == {"stdout", "queue", "pipe", "floor", "mp_queue"}
    assert set(result["peers"]["left_out"]) == {"zmq", "zmq_batched"}
    text = table(result)
    assert "zmq         left out: pyzmq not installed" in text
    assert "zmq_batched left out: pyzmq not installed" in text


def test_a_paced_run_is_judged_by_p99_against_the_floor() -> None:
    m = {mode: {"p99_ms": p99} for mode, p99 in (("floor", 0.5), ("queue", 0.75))}
    result = {"rate": 100.0, "payload": "small", "modes": m}
    assert vs_floor(result) == {"floor": 1.0, "queue": 1.5}
