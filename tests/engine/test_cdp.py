"""The DevTools-pipe camera: fast, deterministic, and robust to a closed stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from veritas.engine import cdp
from veritas.engine.screenshots import DESKTOP, MOBILE, Camera, find_chromium
from veritas.pixels import pixel_digest

CHROMIUM = find_chromium()
PAGE = (Path(__file__).parent / "pages" / "shop" / "index.html").read_text(encoding="utf-8")
needs_pipe = pytest.mark.skipif(
    CHROMIUM is None or not cdp.SUPPORTED, reason="needs Chromium and POSIX"
)


@pytest.mark.slow
@needs_pipe
def test_one_browser_takes_repeatable_shots() -> None:
    assert CHROMIUM is not None
    camera = Camera(CHROMIUM)
    try:
        first = [camera.shoot(PAGE, "http://127.0.0.1:9/", v) for v in (DESKTOP, MOBILE, DESKTOP)]
        session = camera._session
    finally:
        camera.close()
    assert pixel_digest(first[0]) == pixel_digest(first[2]) != pixel_digest(first[1])
    assert session is not None and session.proc.poll() is not None, "closing leaves no browser"


@pytest.mark.slow
@needs_pipe
def test_camera_works_when_stdin_is_closed() -> None:
    # The audit child closes fd 0 after reading its handshake; a pipe handed fd 0 was once
    # overwritten by Popen's stdin redirection and Chromium never answered.
    code = (
        "import os, sys\n"
        "os.close(0)\n"
        "from veritas.engine.screenshots import Camera, DESKTOP\n"
        f"c = Camera({CHROMIUM!r})\n"
        "png = c.shoot('<h1>hi</h1>', 'http://127.0.0.1:9/', DESKTOP)\n"
        "c.close()\n"
        "print(len(png))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000
