"""A real Prometheus server scrapes ``veritas serve``; ``harness cohorts --prometheus`` reads
the production cohorts back through its query API. Skipped (with the reason) where no
``prometheus`` binary is installed; CI installs Debian's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.rollout.prometheus import from_prometheus

from .support import LiveServer, receive

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS is None, reason="no prometheus binary (apt-get install prometheus)"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
        return result


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus on loopback; its scrape config file is written by the test."""
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\nscrape_configs: []\n")
    assert PROMETHEUS is not None
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", config
    finally:
        proc.terminate()
        proc.wait(20)


def _wait(condition: Any, what: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_cohorts_read_back_from_a_real_prometheus(serve: Any, prometheus: tuple[str, Path]) -> None:
    base, config = prometheus
    server: LiveServer = serve()
    target = server.base.split("//")[1]
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: veritas\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    _wait(lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=5).status == 200, "ready")
    urllib.request.urlopen(urllib.request.Request(f"{base}/-/reload", method="POST"), timeout=10)
    _wait(lambda: any(s["value"][1] == "1" for s in _query(base, 'up{job="veritas"}')), "a scrape")
    # The zero-valued series must have a sample before the window opens (else the reader
    # falls back to increase(), which extrapolates), and the first audit must end after it.
    time.sleep(2)
    since = dt.datetime.now(dt.UTC)
    time.sleep(2)
    runs = [("queue", "synthetic:?events=30")] * 3 + [("stdout", "synthetic:?events=30")] * 2
    runs += [("queue", "synthetic:?events=30&crash_after=5")]  # a failed audit
    expected_events = {"queue": 0, "stdout": 0}
    for mode, url in runs:
        got = asyncio.run(receive(server.ws_url(server.start_audit(url, ipc=mode))))
        assert got.outcome is not None and got.outcome["mode_used"] == mode
        expected_events[mode] += len(got.events)
    _wait(
        lambda: (
            sum(float(s["value"][1]) for s in _query(base, "veritas_audits_total")) == len(runs)
        ),
        "the last audit scraped",
    )
    time.sleep(1.5)
    cohorts = from_prometheus(base, since, dt.datetime.now(dt.UTC))
    queue, stdout = cohorts["queue"], cohorts["stdout"]
    assert (queue.audits, stdout.audits) == (4, 2)
    assert (queue.failures, stdout.failures) == (1, 0)
    assert queue.fallbacks == {} and stdout.fallbacks == {}
    # Every delivered event's latency is in the histogram, by the mode requested.
    counts = {
        s["metric"]["mode_requested"]: round(float(s["value"][1]))
        for s in _query(base, 'veritas_event_latency_seconds_count{purpose="production"}')
    }
    assert counts == expected_events
    assert queue.latency_p99_ms is not None and stdout.latency_p99_ms is not None
