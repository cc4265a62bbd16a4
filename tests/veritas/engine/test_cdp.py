"""The DevTools-pipe camera: fast, deterministic, and robust to a closed stdin."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veritas.engine import cdp
from veritas.engine.screenshots import DESKTOP, MOBILE, Camera, find_chromium
from veritas.pixels import pixel_digest

CHROMIUM = find_chromium()
PAGE = (Path(__file__).parent / "pages" / "shop" / "index.html").read_text(encoding="utf-8")
needs_pipe = pytest.mark.skipif(
    CHROMIUM is None or not cdp.SUPPORTED, reason="needs Chromium and POSIX"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


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
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000


@pytest.mark.slow
@needs_pipe
def test_cross_site_iframe_runs_no_script_and_holds_still(tmp_path: Path) -> None:
    # The page file is file://, so an iframe from the site is another site's frame, in a
    # renderer of its own: the page's settings did not reach it. Its script ran, its animation
    # moved, and its document's request never finished in the page's session (each shot then
    # waited out the whole settle timeout).
    (tmp_path / "inner.html").write_text(
        "<!DOCTYPE html><style>div { width: 40px; height: 40px; background: #c00;"
        " animation: m 0.5s linear infinite; } @keyframes m { to { margin-left: 200px; } }"
        "</style><body style='margin: 0'><div></div>"
        "<script>document.body.style.background = '#0c0'</script>",
        encoding="utf-8",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    page = '<body style="margin: 0"><iframe src="inner.html" width="300" height="60" style="border: 0">'
    assert CHROMIUM is not None
    camera = Camera(CHROMIUM)
    try:
        first = camera.shoot(page, base, DESKTOP)
        time.sleep(0.3)
        # Timed on the second shot: the browser's start-up (slow on a loaded machine) is not
        # what this measures; a request never seen to finish would hold every shot.
        started = time.monotonic()
        second = camera.shoot(page, base, DESKTOP)
        elapsed = time.monotonic() - started
    finally:
        camera.close()
        server.shutdown()
        server.server_close()
    image = Image.open(io.BytesIO(first)).convert("RGB")
    assert image.getpixel((250, 50)) == (255, 255, 255), "the iframe's script did not run"
    assert image.getpixel((20, 20)) == (204, 0, 0), "its animation is at time zero"
    assert pixel_digest(first) == pixel_digest(second)
    assert elapsed < cdp.SETTLE_TIMEOUT / 2, "its document's request was seen to finish"
