"""One headless Chromium per audit, driven over the DevTools protocol on a pipe.

Launching Chromium costs far more than a capture, so an audit starts one browser
(``--remote-debugging-pipe``: commands on fd 3, replies on fd 4, each message JSON ending in a
NUL byte) and takes every screenshot in it: set the viewport, load the page file with
scripts disabled, capture. POSIX only; elsewhere the engine falls back to one ``--screenshot`` launch per shot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUPPORTED = sys.platform != "win32"


#: Puts the two pipe ends on fds 3 and 4, where Chromium expects them, then becomes Chromium.
#: Both are first moved to fds >= 10, so that neither placement can overwrite the other.
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def _high_fd(fd: int) -> int:
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


#: Under load, Page.captureScreenshot sometimes waited forever with these (a capture already
#: forces a fresh frame, and the camera confirms each shot with a second one).
_NOT_FOR_SESSIONS = ("--run-all-compositor-stages-before-draw", "--disable-partial-raster")
#: A page nobody looks at must still paint when asked to.
_SESSION_FLAGS = (
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
)


def session_flags(flags: Sequence[str]) -> list[str]:
    return [f for f in flags if f not in _NOT_FOR_SESSIONS] + list(_SESSION_FLAGS)


class CDPError(RuntimeError):
    pass


class ChromiumSession:
    def __init__(
        self, chromium: str, flags: list[str], env: dict[str, str], timeout: float
    ) -> None:
        if not SUPPORTED:  # pragma: no cover
            raise CDPError("the DevTools pipe is POSIX-only here")
        self.timeout = timeout
        self.workdir = tempfile.mkdtemp(prefix="veritas-cdp-")
        # Every end above the standard streams: with fd 0 closed, os.pipe() can return 0,
        # which Popen's stdin redirection would then overwrite in the child.
        to_child_r, self._to_child, self._from_child, from_child_w = (
            _high_fd(fd) for fd in (*os.pipe(), *os.pipe())
        )
        argv = [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _TRAMPOLINE,
            str(to_child_r),
            str(from_child_w),
            chromium,
            *flags,
            "--remote-debugging-pipe",
            f"--user-data-dir={os.path.join(self.workdir, 'profile')}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            argv,
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session_id: str | None = None
        try:
            targets = self.call("Target.getTargets")["targetInfos"]
            pages = [t["targetId"] for t in targets if t["type"] == "page"]
            target = (
                pages[0]
                if pages
                else self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            )
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self.session_id = attached["sessionId"]
            self.call("Page.enable")
            blank = Path(self.workdir) / "blank.html"
            blank.write_text("<!doctype html><title></title>", encoding="utf-8")
            # Leave about:blank first: later file:// loads then stay in one renderer process.
            self.call("Page.navigate", {"url": blank.as_uri()})
            self.wait_for("Page.loadEventFired")
            self.call("Emulation.setScriptExecutionDisabled", {"value": True})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ChromiumSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        from veritas.engine.screenshots import _kill_tree

        if self.proc.poll() is None:
            _kill_tree(self.proc)
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------
    def call(
        self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session_id is not None and not browser:
            message["sessionId"] = self.session_id
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._to_child, data)
            data = data[written:]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[: i + 1]
                    return event
            self._events.clear()
            self._events.append(self._read(deadline, f"waiting for {method}"))

    def _read(self, deadline: float, doing: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"Chromium did not answer within {self.timeout:g} s ({doing})")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise CDPError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    # -- screenshots ------------------------------------------------------------------------
    def load(self, page_file: str, width: int, height: int, mobile: bool) -> None:
        """Show *page_file* in a *width*×*height* viewport and wait for its load event."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self._events.clear()
        self.call("Page.navigate", {"url": Path(page_file).as_uri()})
        self.wait_for("Page.loadEventFired")

    def capture(self) -> bytes:
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])
