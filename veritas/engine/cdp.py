"""One headless Chromium per audit, driven over the DevTools protocol on a pipe.

Launching Chromium costs far more than a capture, so an audit starts one browser
(``--remote-debugging-pipe``: commands on fd 3, replies on fd 4, each message JSON ending in a
NUL byte) and takes every screenshot in it: set the viewport, load the page file with
scripts disabled, wait until the page has settled, capture. POSIX only; elsewhere the engine
falls back to one ``--screenshot`` launch per shot. Constructing a session only launches the
browser; the first ``load`` attaches to it (``connect``), so an audit launches it before its
scout and the browser starts up while the pages are fetched.

Two things make a capture hold still and not come too early (``screenshots.py`` says what
the page file and the flags add):

- **Frozen clock.** ``Animation.setPlaybackRate`` 0 stops the document timeline of every page
  this session loads (DevTools re-applies it on each navigation). Every animation on that
  timeline then stays at its own time zero, i.e. its first frame after any delay: CSS
  keyframe animations, including those that run on the compositor (transform, opacity),
  ``<marquee>`` (a Web Animation inside the element) and SMIL in inline SVG. Pausing an
  animation after it has run (``Animation.seekAnimations``, or the Animation domain's pause)
  needs one round trip per animation and races with animations created meanwhile; a timeline
  that never starts has nothing to race. ``Emulation.setVirtualTimePolicy`` ``pause`` set
  before the navigation stalls the load itself (no load event within 30 s).
- **Settled page.** The load event does not wait for what only style and layout ask for:
  images in CSS (``background-image``, ``content: url()`` in a media query that matches the
  viewport) and web fonts are requested when the page is first laid out, often after it.
  ``settle`` forces style and layout (``Runtime.evaluate`` still runs DevTools' own
  expressions while page scripts are disabled), counts requests from
  ``Network.requestWillBeSent`` to ``loadingFinished``/``loadingFailed``, reads
  ``document.fonts.status``, and repeats until a layout starts no new request, nothing is in
  flight and no font is loading. ``Page.lifecycleEvent`` ``networkIdle`` says the same
  thing, but only after 500 ms without traffic: 0.6-1 s after the navigation where
  ``settle`` needs 0.05-0.1 s.

Both, and disabled scripts, hold in every frame: an iframe of another site runs in a renderer
of its own, which the page's settings do not reach (its scripts ran, its animations moved,
and its document's request never finished in the page's session). ``Target.setAutoAttach``
holds each such frame at its start until it has the page's setup (``_FRAME_SETUP``).
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
from collections.abc import Callable, Sequence
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
    # The page is a file:// document, so to Chromium every resource of the site is another
    # origin's, and web fonts (always fetched with CORS) would be refused where the site's own
    # page gets them. Only here, where no frame runs scripts, can nothing use the lifted checks.
    "--disable-web-security",
)


#: How long ``settle`` waits for a page's resources. A resource still loading then is drawn
#: as missing: the capture is then as repeatable as the server that is that slow.
SETTLE_TIMEOUT = 10.0
#: While a web font is decoded no request is in flight; how long to wait between looks.
_SETTLE_POLL = 0.01
#: Forces style and layout (which start the requests for CSS images and web fonts), then
#: says whether any font is still loading. Evaluated by DevTools, not by the page.
_LAYOUT_AND_FONTS = (
    "(() => { const root = document.documentElement;"
    " if (root) root.getBoundingClientRect();"
    " return document.fonts ? document.fonts.status : 'loaded'; })()"
)


#: What every frame of a page gets, the page itself and each out-of-process iframe (another
#: site's frame runs in a renderer of its own, which the page's settings do not reach): no
#: scripts, a stopped animation clock, its requests reported, and the same for its own iframes,
#: each held at its start until it has been given all of this.
_FRAME_SETUP: tuple[tuple[str, dict[str, Any]], ...] = (
    ("Network.enable", {}),
    ("Emulation.setScriptExecutionDisabled", {"value": True}),
    ("Animation.setPlaybackRate", {"playbackRate": 0}),
    ("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}),
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
        #: Requests of the current page that have neither finished nor failed, and how many
        #: the page has started in all (``settle`` compares the count before and after a layout).
        self._in_flight: set[str] = set()
        self.requests_started = 0
        self._settle_deadline = 0.0
        self._loaded = False
        self.session_id: str | None = None
        #: DevTools sessions of the page's out-of-process iframes.
        self._frames: set[str] = set()
        self._connected = False
        self._closed = False

    def connect(self) -> None:
        """Attach to the browser's page and set it up, once; the first ``load`` does it.

        Until then the browser starts up by itself: an audit launches it early and goes on
        with its other work meanwhile. A browser that fails here is closed.
        """
        if self._connected:
            return
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
            for method, params in _FRAME_SETUP:
                self.call(method, params)
        except BaseException:
            self.close()
            raise
        self._connected = True

    def __enter__(self) -> ChromiumSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill the browser and its helpers, close the pipe, remove the files; once (the pipe's
        descriptors must not be closed twice: their numbers may be another file's by then)."""
        if self._closed:
            return
        self._closed = True
        if self.proc.poll() is None:
            from veritas.proctree import kill_tree  # psutil: only a browser's end needs it

            kill_tree(self.proc.pid)
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- protocol ---------------------------------------------------------------------------
    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        browser: bool = False,
        session: str | None = None,
    ) -> dict[str, Any]:
        """Send a command to the page (or *session*, or the browser) and return its result."""
        message_id = self._send(method, params, None if browser else session or self.session_id)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        """Write one command; its reply is whatever later reads find under the returned id."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._to_child, data)
            data = data[written:]
        return self._next_id

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == self.session_id:
                    del self._events[: i + 1]
                    return event
            self._events.clear()
            self._events.append(self._read(deadline, f"waiting for {method}"))

    def _read(self, deadline: float, doing: str) -> dict[str, Any]:
        while True:
            message = self._take()
            if message is not None:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"Chromium did not answer within {self.timeout:g} s ({doing})")
            self._fill(left)

    def _fill(self, wait: float) -> None:
        """Append what the pipe holds to the buffer, waiting at most *wait* seconds for it."""
        ready, _, _ = select.select([self._from_child], [], [], max(wait, 0.0))
        if ready:
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the DevTools pipe")
            self._buffer += chunk

    def _take(self) -> dict[str, Any] | None:
        """The next whole message in the buffer, if there is one; every message read passes
        through here, so the page's requests are counted whoever is reading."""
        if b"\0" not in self._buffer:
            return None
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        method = message.get("method")
        sender = message.get("sessionId")
        if method is not None and (sender == self.session_id or sender in self._frames):
            params = message.get("params", {})
            if method == "Page.loadEventFired" and sender == self.session_id:
                self._loaded = True
            elif method == "Target.attachedToTarget":
                self._attached(params)
            elif method == "Target.detachedFromTarget":
                self._frames.discard(params.get("sessionId", ""))
            elif method == "Network.requestWillBeSent":
                # A redirect is announced again under the same id: still one request.
                if params["requestId"] not in self._in_flight:
                    self._in_flight.add(params["requestId"])
                    self.requests_started += 1
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                self._in_flight.discard(params["requestId"])
        return message

    def _attached(self, params: dict[str, Any]) -> None:
        """An iframe of another site (or a worker) waits at its start: set it up, then let it go.

        The commands are only sent, not awaited: a target handles its commands in order, so
        it starts only after the others have taken effect, and reading replies here would
        re-enter the reader.
        """
        session = params["sessionId"]
        if params.get("targetInfo", {}).get("type") == "iframe":
            self._frames.add(session)
            for method, setup in _FRAME_SETUP:
                self._send(method, setup, session)
        if params.get("waitingForDebugger"):
            self._send("Runtime.runIfWaitingForDebugger", None, session)

    def _drain(self, until: Callable[[], bool], deadline: float) -> bool:
        """Read events until *until* holds or *deadline* passes; whether *until* holds.

        The events themselves are dropped: only the request count matters after the load.
        """
        while not until():
            if self._take() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._fill(left)
        return True

    # -- screenshots ------------------------------------------------------------------------
    def load(self, page_file: str, width: int, height: int, mobile: bool) -> None:
        """Show *page_file* in a *width*×*height* viewport; wait for its load event, then
        until it has settled (``settle``), both within ``SETTLE_TIMEOUT``."""
        self.connect()
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self._events.clear()
        self._in_flight.clear()
        self._frames.clear()
        self._loaded = False
        self._settle_deadline = time.monotonic() + SETTLE_TIMEOUT
        self.call("Page.navigate", {"url": Path(page_file).as_uri()})
        # The load event waits for every image in the markup: one that never arrives must
        # cost the settle timeout, like any other late resource, not the whole call timeout.
        self._drain(lambda: self._loaded, self._settle_deadline)
        self.settle()

    def settle(self) -> bool:
        """Wait until a layout starts no request, none is in flight and no font is loading.

        False if the page has not settled by ``SETTLE_TIMEOUT`` after its navigation started
        (the capture then shows what has arrived; later calls do not wait again). Cheap on a
        page that has settled: one evaluation.
        """
        deadline = self._settle_deadline
        while True:
            started = self.requests_started
            fonts_loading = False
            for session in (self.session_id, *sorted(self._frames)):
                try:
                    status = self.call(
                        "Runtime.evaluate",
                        {"expression": _LAYOUT_AND_FONTS, "returnByValue": True},
                        session=session,
                    )
                except CDPError:
                    if session == self.session_id:
                        raise
                    continue  # an iframe that went away meanwhile
                fonts_loading |= status.get("result", {}).get("value") == "loading"
            if not self._drain(lambda: not self._in_flight, deadline):
                return False
            if self.requests_started == started and not fonts_loading:
                return True
            if time.monotonic() >= deadline:
                return False
            if self.requests_started == started:
                # A font has arrived but is not decoded yet: nothing will be read meanwhile.
                self._drain(lambda: False, min(deadline, time.monotonic() + _SETTLE_POLL))
            # Else what arrived may be laid out anew and ask for more: look again.

    def capture(self) -> bytes:
        """PNG bytes of the viewport, once the page has settled (see ``settle``)."""
        self.settle()
        shot = self.call("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])
