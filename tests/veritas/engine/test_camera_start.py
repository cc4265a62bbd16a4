"""``Camera.start`` launches the browser early; what the first shot then sees is what it
would have seen launching the browser itself."""

from __future__ import annotations

import pytest

from veritas.engine import cdp
from veritas.engine.screenshots import DESKTOP, Camera, find_chromium

CHROMIUM = find_chromium()
PAGE = "<!doctype html><title>t</title><h1>Early</h1>"


@pytest.mark.skipif(not cdp.SUPPORTED, reason="the DevTools pipe is POSIX-only")
def test_a_browser_that_does_not_start_fails_the_first_shot() -> None:
    camera = Camera("/nonexistent/chromium")
    camera.start()  # returns: the failure belongs to the shot
    with pytest.raises(cdp.CDPError, match="closed the DevTools pipe"):
        camera.shoot(PAGE, "http://127.0.0.1:9/", DESKTOP)
    camera.close()


@pytest.mark.skipif(not cdp.SUPPORTED, reason="the DevTools pipe is POSIX-only")
def test_a_launch_that_fails_is_reported_by_the_first_shot_then_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launches: list[int] = []

    def no_room(*args: object, **kwargs: object) -> None:
        launches.append(1)
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("veritas.engine.cdp.subprocess.Popen", no_room)
    camera = Camera("/usr/bin/chromium")
    camera.start()
    assert launches == [1]
    with pytest.raises(OSError, match="Too many open files"):
        camera.shoot(PAGE, "http://127.0.0.1:9/", DESKTOP)
    assert launches == [1]  # the early launch's own error, not a second launch
    with pytest.raises(OSError, match="Too many open files"):
        camera.shoot(PAGE, "http://127.0.0.1:9/", DESKTOP)
    assert launches == [1, 1]  # the next shot launches again, as before
    camera.close()


@pytest.mark.skipif(CHROMIUM is None or not cdp.SUPPORTED, reason="needs Chromium and POSIX")
def test_an_early_browser_takes_the_shot_and_a_closed_one_leaves_nothing() -> None:
    import psutil

    assert CHROMIUM is not None
    camera = Camera(CHROMIUM)
    camera.start()
    session = camera._session
    assert session is not None and psutil.pid_exists(session.proc.pid)
    png = camera.shoot(PAGE, "http://127.0.0.1:9/", DESKTOP)
    assert png.startswith(b"\x89PNG") and camera._session is session  # the one launched early
    camera.close()
    assert session.proc.poll() is not None
    camera.close()  # twice is harmless

    unused = Camera(CHROMIUM)
    unused.start()
    early = unused._session
    unused.close()  # an audit that ended before its screenshots
    assert early is not None and early.proc.poll() is not None
