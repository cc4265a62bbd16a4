"""``veritas serve`` as a user starts it: loopback only, file URLs refused, bad options exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest


def test_serve_binds_to_loopback_and_refuses_file_urls_by_default(tmp_path: Path) -> None:
    env = {**os.environ, "VERITAS_METRICS_DB": str(tmp_path / "metrics.sqlite3")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "veritas", "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if found := re.search(r"running on http://([\d.]+):(\d+)", line):
                assert found.group(1) == "127.0.0.1"
                port = int(found.group(2))
        assert port is not None, "the backend did not say where it listens"
        listening = [
            c.laddr
            for c in psutil.Process(proc.pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
        page = tmp_path / "p.html"
        page.write_text("<title>x</title>")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/audit/start",
            data=json.dumps({"url": page.as_uri()}).encode(),
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 422
        assert "--allow-file-urls" in json.load(refused.value)["detail"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0  # stopped as asked
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()


@pytest.mark.parametrize("option", [["--max-concurrent", "0"], ["--port", "x"]])
def test_bad_serve_options_exit_2(option: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "veritas", "serve", *option], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert option[0] in done.stderr
