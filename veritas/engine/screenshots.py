"""Screenshots: choose a renderer, and take a viewport screenshot with headless Chromium.

Chromium is given the HTML the scout already fetched, written to a private temporary file
with a ``<base href>`` for the page's real URL, rather than the URL itself: the picture then
shows exactly what was audited (no second request that a server could answer differently),
and ``--host-resolver-rules`` keeps every sub-resource off the network except 127.0.0.1.
The file starts with a UTF-8 byte-order mark, which outranks any ``<meta charset>``, because
the text was decoded once already.

``Camera`` keeps one browser per audit and drives it over the DevTools pipe (``cdp.py``), with
scripts disabled in every frame: a screenshot shows the page as delivered (what the other
phases audited, and what the Pillow renderer draws), a hostile page runs no code, and no timer
can make two captures differ. Where that pipe is unavailable (Windows) each shot is one
``--screenshot`` launch (about 0.5-0.8 s) with scripts on virtual time.

A capture holds still: two captures of a page are pixel-identical however long the host takes
between them. What stops each kind of motion, measured on this Chromium (the alternatives
named did not, or changed the picture):

=========================  ==============================================================
CSS keyframe animations    Held at their time zero, the first frame after any delay: the
(spinners, carousels,      DevTools session stops the document clock
pulsing badges)            (``Animation.setPlaybackRate`` 0, ``cdp.py``), and
                           ``FREEZE_STYLE`` pauses them (``animation-play-state``), which
                           gives the same picture where there is no DevTools session.
                           ``animation: none`` would show the element unanimated, which is
                           not a frame the visitor sees.
CSS transitions            Not run (``FREEZE_STYLE``): the element shows the style the page
                           gives it, not a moment on the way there (``@starting-style``
                           fade-ins on load, ``:focus`` effects). A stopped clock alone
                           would hold a fade-in at its invisible start.
``<marquee>``              The element moves itself with a Web Animation that no style
                           reaches; the stopped clock holds it at its start. Not stopped in
                           a ``--screenshot`` launch.
animated images (GIF,      ``--blink-settings=imageAnimationPolicy=2`` (no animation): the
APNG, animated WebP)       first frame, in ``<img>`` and in CSS alike. The clock and the
                           style do not reach them. The same setting stops SMIL in an SVG
                           image; the stopped clock stops SMIL in inline SVG.
the text caret             ``caret-color: transparent`` (``FREEZE_STYLE``). Headless pages
                           over the DevTools pipe are not focused, so no caret is drawn
                           there at all; a ``--screenshot`` launch focuses an
                           ``autofocus`` field, whose caret would blink.
=========================  ==============================================================

Not stopped: CSS animations inside an SVG used as an image (its document has its own clock),
and video. ``Emulation.setVirtualTimePolicy`` ``pause`` would stop every clock of the page,
but set before the navigation it stalls the load itself (no load event within 30 s).

A capture is not taken too early: over the DevTools pipe, ``ChromiumSession.settle`` waits
until every request the page has started (images, CSS images such as ``content: url()`` in a
matching media query, web fonts) has finished or failed and no font is loading (``cdp.py``);
a ``--screenshot`` launch gets the same from virtual time, which does not advance while a
request is in flight. Web fonts need one more thing: the page file is a file:// document, so
every font of the site is another origin's to Chromium and, fetched with CORS, refused. The
DevTools session lifts that check (``--disable-web-security``), which is safe only because no
frame there runs scripts; a ``--screenshot`` launch runs them, keeps the check, and draws the
fallback font unless the server allows other origins.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RENDERERS = ("auto", "chromium", "pillow")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_TIMEOUT = 30.0
VIRTUAL_TIME_MS = 2000
#: Put in every page file before the page's own markup. Paused CSS animations stay at their
#: time zero, the first frame after any delay (the DevTools session also stops the clock:
#: ``cdp.py``). Transitions are left out, so that an element shows the style the page gives it,
#: not a moment of the way there (``@starting-style`` fades on load, ``:focus`` effects). The
#: caret would blink wherever the page has focus. Importance outranks everything the page
#: declares except its own ``!important`` declarations of higher specificity or later in the page.
FREEZE_STYLE = (
    "<style>*,*::before,*::after{animation-play-state:paused!important;"
    "transition:none!important;caret-color:transparent!important}</style>"
)
_DOCTYPE = re.compile(r"\A(\ufeff?\s*(?:<!--.*?-->\s*)*<!doctype[^>]*>)", re.I | re.S)


#: Flags for every Chromium the engine starts.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    # Paint every tile before a capture: without these a loaded machine sometimes captured
    # the window before its last rows were rasterized (a blank strip at the bottom).
    "--run-all-compositor-stages-before-draw",
    "--disable-partial-raster",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    # Animated GIF, APNG and WebP images, in <img> or in CSS, and SMIL inside SVG images show
    # their first frame. The policy's values: allowed (0), once (1), none (2).
    "--blink-settings=imageAnimationPolicy=2",
)


class RendererError(Exception):
    """The renderer requested by ``VERITAS_RENDERER`` cannot be used."""


@dataclass(frozen=True)
class Viewport:
    label: str
    width: int
    height: int


DESKTOP = Viewport("desktop", 1280, 800)
MOBILE = Viewport("mobile", 390, 844)


def find_chromium() -> str | None:
    explicit = os.environ.get("VERITAS_CHROMIUM", "").strip()
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def choose_renderer() -> tuple[str, str | None]:
    """("chromium", path) or ("pillow", None), per ``VERITAS_RENDERER`` (default ``auto``)."""
    wanted = os.environ.get("VERITAS_RENDERER", "auto").strip().lower() or "auto"
    if wanted not in RENDERERS:
        raise RendererError(
            f"VERITAS_RENDERER={wanted!r} is not a renderer; accepted: {', '.join(RENDERERS)}"
        )
    if wanted == "pillow":
        return "pillow", None
    path = find_chromium()
    if path is not None:
        return "chromium", path
    if wanted == "chromium":
        raise RendererError(
            "VERITAS_RENDERER=chromium but no Chromium was found "
            f"(set VERITAS_CHROMIUM or put one of {', '.join(CHROMIUM_NAMES)} on PATH)"
        )
    return "pillow", None


def child_environment() -> dict[str, str]:
    """The environment for Chromium: ours minus the IPC layer's private variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}


def page_file_text(page_html: str, base_url: str) -> str:
    """The HTML Chromium loads: the page with a ``<base>`` and ``FREEZE_STYLE`` (after any
    doctype, to keep the mode)."""
    base = f'<base href="{html.escape(base_url, quote=True)}">' + FREEZE_STYLE
    match = _DOCTYPE.match(page_html)
    if match:
        return match.group(1) + base + page_html[match.end() :]
    return base + page_html


def chromium_screenshot(
    chromium: str,
    page_html: str,
    base_url: str,
    viewport: Viewport,
    timeout: float = CHROMIUM_TIMEOUT,
) -> bytes:
    """PNG bytes of the page in a *viewport*-sized headless window; raise RuntimeError on failure."""
    workdir = tempfile.mkdtemp(prefix="veritas-shot-")
    try:
        page_path = os.path.join(workdir, "page.html")
        shot_path = os.path.join(workdir, "shot.png")
        profile = os.path.join(workdir, "profile")
        with open(page_path, "w", encoding="utf-8-sig", errors="surrogatepass") as handle:
            handle.write(page_file_text(page_html, base_url))
        args = [
            chromium,
            *CHROMIUM_FLAGS,
            # Timers run on virtual time: a countdown shows the same value however slow the
            # host. Virtual time does not advance while a request is in flight, so the budget
            # runs out only once the page's resources have arrived or failed.
            f"--virtual-time-budget={VIRTUAL_TIME_MS}",
            f"--user-data-dir={profile}",
            f"--screenshot={shot_path}",
            f"--window-size={viewport.width},{viewport.height}",
            "file://" + page_path if sys.platform != "win32" else "file:///" + page_path,
        ]
        _run(args, timeout)
        if not os.path.exists(shot_path):
            raise RuntimeError("Chromium exited without writing a screenshot")
        with open(shot_path, "rb") as handle:
            return handle.read()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args: list[str], timeout: float) -> None:
    posix = os.name == "posix"
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_environment(),
        start_new_session=posix,
        close_fds=True,
    )
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_browser(proc)
        raise RuntimeError(f"Chromium did not finish within {timeout:g} s and was killed") from None
    finally:
        # Chromium's helpers share its session; none may outlive the screenshot.
        if posix:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    if code != 0:
        raise RuntimeError(f"Chromium exited with status {code}")


def kill_browser(proc: subprocess.Popen[bytes]) -> None:
    """Kill Chromium and every helper it started, then reap it."""
    from veritas.proctree import kill_tree  # psutil: only a browser's end needs it

    kill_tree(proc.pid)
    proc.wait()


#: How many captures a settled screenshot may take before the last one is used anyway.
MAX_CAPTURES = 4


class Camera:
    """Takes an audit's Chromium screenshots: one browser over the DevTools pipe where the
    platform allows it (about 0.1 s a shot), else one ``--screenshot`` launch per shot.

    A capture counts once a second capture of the same page is pixel-identical: an audit
    must be deterministic even when the host is too busy to finish painting in time.
    """

    def __init__(self, chromium: str) -> None:
        self.chromium = chromium
        self._session: Any = None
        self._launch_error: BaseException | None = None

    def start(self) -> None:
        """Launch the browser now, where the DevTools pipe is used, and return at once: it
        starts up while the caller does other work (an audit fetches its pages meanwhile).
        The first ``shoot`` waits for it. A launch that fails is reported by that ``shoot``,
        as if the browser had been launched there."""
        from veritas.engine import cdp

        if not cdp.SUPPORTED or self._session is not None:
            return
        try:
            self._session = self._launch()
        except (OSError, RuntimeError) as exc:
            self._launch_error = exc

    def _launch(self) -> Any:
        from veritas.engine import cdp

        return cdp.ChromiumSession(
            self.chromium,
            cdp.session_flags(CHROMIUM_FLAGS),
            child_environment(),
            CHROMIUM_TIMEOUT,
        )

    def shoot(self, page_html: str, base_url: str, viewport: Viewport) -> bytes:
        from veritas.engine import cdp
        from veritas.pixels import pixel_digest

        grab: Callable[[], bytes]
        if not cdp.SUPPORTED:  # Windows; tests select it too

            def grab() -> bytes:
                return chromium_screenshot(self.chromium, page_html, base_url, viewport)

        else:
            if self._launch_error is not None:
                error, self._launch_error = self._launch_error, None
                raise error  # the next shot launches again, as a failed shot would
            if self._session is None:
                self._session = self._launch()
            session = self._session
            page = os.path.join(session.workdir, "page.html")
            with open(page, "w", encoding="utf-8-sig", errors="surrogatepass") as handle:
                handle.write(page_file_text(page_html, base_url))
            try:
                session.load(page, viewport.width, viewport.height, viewport.label == "mobile")
            except Exception:
                self.close()  # a broken browser is replaced for the next shot
                raise
            grab = session.capture
        previous = grab()
        for _ in range(MAX_CAPTURES - 1):
            current = grab()
            if pixel_digest(current) == pixel_digest(previous):
                return current
            previous = current
        return previous

    def close(self) -> None:
        self._launch_error = None
        if self._session is not None:
            self._session.close()
            self._session = None
