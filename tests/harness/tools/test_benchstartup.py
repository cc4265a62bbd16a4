"""``harness bench startup``: every column measured in both modes, and its arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.tools.benchstartup import ROWS, _union_ms, figures, spread, table
from veritas.engine.screenshots import find_chromium

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM_ROWS = {"chromium_launched", "chromium_answered", "chromium_wait", "browser_close"}


def test_bench_startup_measures_every_column_in_both_modes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "--report-dir", str(tmp_path), "bench", "startup",
         "--repeats", "1", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "[4/4] this" in proc.stderr  # progress: one import profile and one run per mode
    result: dict[str, Any] = json.loads(proc.stdout)
    assert set(result["runs"]) == {"this/stdout", "this/queue"}
    chromium = find_chromium() is not None
    for key, run in result["runs"].items():
        assert run["states"] == ["completed"], key
        for name, _ in ROWS:
            if name in CHROMIUM_ROWS and not chromium:
                continue
            assert run[name]["median"] is not None, (key, name)
            assert len(run[name]["values"]) == 1
        assert 0 < run["interpreter"]["median"] < run["first_event"]["median"]
        assert run["first_event"]["median"] < run["first_screenshot"]["median"]
        assert run["first_screenshot"]["median"] < run["end"]["median"]
    for key, profile in result["imports"].items():
        assert profile["modules_loaded"] > 50 and profile["importtime_ms"] > 0, key
        assert profile["top"] and profile["project_modules"] > 0, key
    text = table(result)
    for _, label in ROWS:
        assert label in text
    assert list((tmp_path / "bench").glob("*-startup.yaml"))


def test_bench_startup_refuses_an_unknown_case(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "--report-dir", str(tmp_path), "bench", "startup",
         "--case", "no_such_case"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no case 'no_such_case'" in proc.stderr


def test_imports_that_overlap_are_counted_once_within_the_window() -> None:
    intervals = [[1.0, 1.5], [1.2, 1.7], [3.0, 4.0]]
    assert round(_union_ms(intervals, 0.0, 10.0)) == 1700
    assert round(_union_ms(intervals, 1.6, 3.5)) == 600


def test_figures_of_one_run() -> None:
    run = {
        "spawn": 100.0,
        "end": 103.0,
        "events": [
            {"type": "audit_start", "emitted": 100.5},
            {"type": "screenshot", "emitted": 102.0},
            {"type": "screenshot", "emitted": 102.5},
        ],
        "probe": {
            "site": 100.1,
            "imports": [[100.15, 100.35], [100.8, 100.9]],
            "chromium_launch": 100.6,
            "chromium_call": [101.0, 101.4],
            "chromium_close": [102.6, 102.8],
        },
    }
    f = {k: round(v) if v is not None else None for k, v in figures(run).items()}
    assert f == {
        "interpreter": 100, "imports_to_first_event": 200, "setup": 200, "first_event": 500,
        "imports": 300, "chromium_launched": 600, "chromium_answered": 1400,
        "chromium_wait": 400, "first_screenshot": 2000, "browser_close": 200, "rest": 1000,
        "end": 3000,
    }  # fmt: skip
    assert spread([3.0, None, 1.0, 2.0])["median"] == 2.0
    assert spread([None])["median"] is None
