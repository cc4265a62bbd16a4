"""Screenshots hold still (animations of every kind), wait for late CSS resources, and carry
the child's own pixel digest."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veritas.engine import cdp
from veritas.engine.screenshots import (
    DESKTOP,
    MOBILE,
    Camera,
    Viewport,
    chromium_screenshot,
    find_chromium,
)
from veritas.pixels import pixel_digest

from .support import audit

CHROMIUM = find_chromium()
FIXTURE_SITES = Path(__file__).resolve().parents[3] / "fixtures" / "sites"
needs_pipe = pytest.mark.skipif(
    CHROMIUM is None or not cdp.SUPPORTED, reason="needs Chromium and POSIX"
)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")

#: Paths the test server answers only after this long: late enough that none of them has
#: arrived when the load event fires.
LATE_PREFIXES = ("/fonts/", "/img/")
LATE_SECONDS = 0.6


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/never"):
            time.sleep(8)  # longer than any test waits; the client gives up first
            return
        if self.path.startswith(LATE_PREFIXES):
            time.sleep(LATE_SECONDS)
        super().do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a request Chromium gave up on when it moved to the next page


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), partial(_Handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def camera() -> Iterator[Camera]:
    assert CHROMIUM is not None
    shooter = Camera(CHROMIUM)
    try:
        yield shooter
    finally:
        shooter.close()


def _pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    r, g, b = image.getpixel((x, y))  # type: ignore[misc]
    return (r, g, b)


def _near(
    actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 24
) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _shoot_twice(camera: Camera, html: str, base: str, viewport: Viewport) -> tuple[bytes, bytes]:
    first = camera.shoot(html, base, viewport)
    time.sleep(0.35)  # every animation here would have moved by now
    return first, camera.shoot(html, base, viewport)


# -- motion ------------------------------------------------------------------------------------

RED = (220, 20, 20)
GREEN = (20, 160, 60)
BLUE = (20, 60, 220)

#: One element per kind of motion, each at a known place, each showing at time zero a colour
#: that it shows at no other moment of its cycle.
MOTION_PAGE = """<!DOCTYPE html><html><head><title>Motion</title><style>
body { margin: 0; background: #fff; }
div, img, marquee { position: absolute; }
.spin { left: 20px; top: 20px; width: 60px; height: 60px; box-sizing: border-box;
  border: 12px solid #ccc; border-top-color: rgb(220,20,20); border-radius: 50%;
  animation: spin 1s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
.slides { left: 120px; top: 20px; width: 100px; height: 60px; overflow: hidden; }
.track { display: flex; width: 300px; height: 60px; animation: slide 0.9s steps(3) infinite; }
.track div { position: static; width: 100px; height: 60px; }
@keyframes slide { to { transform: translateX(-300px); } }
.badge { left: 260px; top: 20px; width: 60px; height: 60px; background: rgb(220,20,20);
  animation: pulse 0.8s infinite; }
@keyframes pulse { 50% { background: rgb(20,60,220); opacity: 0.3; } }
.fade { left: 360px; top: 20px; width: 60px; height: 60px; background: rgb(20,160,60);
  transition: opacity 5s, transform 5s; }
@starting-style { .fade { opacity: 0; transform: translateX(300px); } }
marquee { left: 20px; top: 120px; width: 400px; height: 40px; font-size: 30px; }
img { left: 20px; top: 200px; }
input { position: absolute; left: 20px; top: 300px; font-size: 30px; width: 300px; }
</style></head><body>
<div class="spin"></div>
<div class="slides"><div class="track"><div style="background: rgb(220,20,20)"></div>
<div style="background: rgb(20,160,60)"></div><div style="background: rgb(20,60,220)"></div></div></div>
<div class="badge"></div><div class="fade"></div>
<marquee scrollamount="30">Breaking news scrolls by</marquee>
<img src="anim.gif" width="60" height="60"><img src="anim.png" width="60" height="60" style="left:100px">
<img src="anim.webp" width="60" height="60" style="left:180px">
<input autofocus value="caret">
</body></html>"""


@pytest.fixture(scope="module")
def motion_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("motion")
    frames = [Image.new("RGB", (60, 60), colour) for colour in (RED, GREEN, BLUE)]
    for name, extra in (
        ("anim.gif", {}),
        ("anim.png", {"format": "PNG"}),
        ("anim.webp", {"lossless": True}),
    ):
        frames[0].save(
            directory / name,
            save_all=True,
            append_images=frames[1:],
            duration=100,
            loop=0,
            **extra,
        )
    with _serve(directory) as base:
        yield base


@pytest.mark.slow
@needs_pipe
@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
def test_every_kind_of_motion_holds_still(
    camera: Camera, motion_site: str, viewport: Viewport
) -> None:
    first, second = _shoot_twice(camera, MOTION_PAGE, motion_site, viewport)
    assert pixel_digest(first) == pixel_digest(second)


@pytest.mark.slow
@needs_pipe
def test_motion_is_held_at_time_zero_and_transitions_at_their_end(
    camera: Camera, motion_site: str
) -> None:
    png = camera.shoot(MOTION_PAGE, motion_site, DESKTOP)
    assert _near(_pixel(png, 50, 26), RED), "spinner: the red quarter is at the top at time zero"
    assert not _near(_pixel(png, 74, 50), RED), "spinner: not turned a quarter"
    assert _near(_pixel(png, 170, 50), RED), "carousel: first slide"
    assert _near(_pixel(png, 290, 50), RED), "badge: the first keyframe's colour, full opacity"
    assert _near(_pixel(png, 390, 50), GREEN), "fade-in: the style the page gives, not its start"
    for x in (50, 130, 210):
        assert _near(_pixel(png, x, 230), RED), f"animated image at x={x}: its first frame"


@pytest.mark.slow
@needs_pipe
@pytest.mark.parametrize(
    "page",
    ["spinlab-games/index.html", "kestrel-fm/index.html", "parcelpath/index.html"],
)
def test_motion_corpus_pages_hold_still(camera: Camera, page: str) -> None:
    site, name = page.split("/")
    html = (FIXTURE_SITES / page).read_text(encoding="utf-8")
    with _serve(FIXTURE_SITES / site) as base:
        for viewport in (DESKTOP, MOBILE):
            first, second = _shoot_twice(camera, html, base + name, viewport)
            assert pixel_digest(first) == pixel_digest(second), f"{page} {viewport.label}"


# -- late CSS resources ------------------------------------------------------------------------

ARROW = (210, 70, 30)  # the fill of caret-down.svg
HERO_SKY = (20, 70, 110)  # the top of hero.png
#: Everything this page draws from a late resource sits at a known place: the arrow after the
#: menu link (wide screens only), the hero image, and a heading in a web font whose every
#: character is a solid box. The rules are in a stylesheet of their own, as on most sites: the
#: page is then laid out, and those resources requested, only after its load event.
LATE_CSS = """
@font-face { font-family: Blockletter; src: url(/fonts/blockletter.ttf); font-display: block; }
body { margin: 0; font: 20px sans-serif; }
.menu { position: absolute; left: 20px; top: 20px; line-height: 16px; }
@media (min-width: 600px) { .menu::after { content: url(/img/caret-down.svg); } }
.hero { position: absolute; left: 20px; top: 60px; width: 300px; height: 100px;
  background: #fff url(/img/hero.png) no-repeat 0 0; }
h1 { position: absolute; left: 20px; top: 180px; margin: 0; font: 60px/1 Blockletter, monospace; }
"""
LATE_PAGE = """<!DOCTYPE html><html><head><title>Late</title>
<meta name="viewport" content="width=device-width"><link rel="stylesheet" href="/late.css">
</head><body><a class="menu" href="/">Shop</a><div class="hero"></div><h1>MMMM</h1></body></html>"""


def _menu_arrow_pixel(png: bytes) -> tuple[int, int, int]:
    """The middle of the arrow's upper edge, right of the word "Shop" (about 45 px wide)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for x in range(40, 140):
        r, g, b = image.getpixel((x, 24))  # type: ignore[misc]
        if _near((r, g, b), ARROW):
            return (r, g, b)
    return _pixel(png, 80, 24)


@pytest.fixture(scope="module")
def late_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("late")
    shop = FIXTURE_SITES / "harbor-outfitters"
    for name in ("fonts/blockletter.ttf", "img/caret-down.svg", "img/hero.png"):
        (directory / name).parent.mkdir(exist_ok=True)
        (directory / name).write_bytes((shop / name).read_bytes())
    (directory / "late.css").write_text(LATE_CSS, encoding="utf-8")
    with _serve(directory) as base:
        yield base


@pytest.mark.slow
@needs_pipe
def test_capture_waits_for_late_css_images_and_fonts(camera: Camera, late_site: str) -> None:
    started = time.monotonic()
    png = camera.shoot(LATE_PAGE, late_site, DESKTOP)
    assert time.monotonic() - started >= LATE_SECONDS
    assert _near(_menu_arrow_pixel(png), ARROW), "::after { content: url() } in a media query"
    assert _near(_pixel(png, 25, 65), HERO_SKY), "background-image"
    # A box glyph is solid; the fallback monospace M is mostly white at its centre line.
    assert all(_pixel(png, x, 205)[0] < 80 for x in range(25, 45)), "the web font"


@pytest.mark.slow
@needs_pipe
def test_media_query_is_the_captured_viewport(camera: Camera, late_site: str) -> None:
    png = camera.shoot(LATE_PAGE, late_site, MOBILE)  # 390 px wide, below the breakpoint
    assert not _near(_menu_arrow_pixel(png), ARROW), "no arrow below the breakpoint"
    assert _near(_pixel(png, 25, 65), HERO_SKY)


@pytest.mark.slow
@needs_chromium
def test_screenshot_launch_waits_for_late_css_images(late_site: str) -> None:
    # The per-shot launch keeps web security (scripts run there), so the site's font is
    # refused as another origin's; the images it must wait for all the same.
    assert CHROMIUM is not None
    png = chromium_screenshot(CHROMIUM, LATE_PAGE, late_site, DESKTOP)
    assert _near(_menu_arrow_pixel(png), ARROW)
    assert _near(_pixel(png, 25, 65), HERO_SKY)


@pytest.mark.slow
@needs_pipe
def test_a_resource_that_never_arrives_costs_the_settle_timeout_once(
    late_site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdp, "SETTLE_TIMEOUT", 1.0)
    assert CHROMIUM is not None
    camera = Camera(CHROMIUM)  # its own: the stalled request must not outlive this test's page
    try:
        camera.shoot("<p>ready</p>", late_site, DESKTOP)  # the browser's start is not timed
        started = time.monotonic()
        png = camera.shoot(
            '<div style="width:50px;height:50px;background:rgb(20,160,60)"></div>'
            '<img src="/never.png" width="20" height="20">',
            late_site,
            DESKTOP,
        )
        elapsed = time.monotonic() - started
    finally:
        camera.close()
    assert 1.0 <= elapsed < 4.0, "waited once for the stalled image, not once per capture"
    assert _near(_pixel(png, 30, 30), GREEN)


# -- the child's own pixel digest --------------------------------------------------------------


def test_screenshot_events_carry_their_pixel_digest(site: str) -> None:
    sink = audit(f"{site}/shop/index.html", "standard_audit")
    shots = sink.of_type("screenshot")
    assert shots and {e.summary["renderer"] for e in shots} == {"pillow"}
    for event in shots:
        assert event.data is not None
        assert event.summary["pixel_digest"] == pixel_digest(event.data)
    listed = [s["pixel_digest"] for s in sink.last.summary["screenshots"]]
    assert listed == [e.summary["pixel_digest"] for e in shots]


@pytest.mark.slow
@needs_chromium
def test_chromium_screenshot_events_carry_their_pixel_digest(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "chromium")
    sink = audit(f"{site}/shop/index.html", "quick_scan")
    shots = sink.of_type("screenshot")
    assert shots and {e.summary["renderer"] for e in shots} == {"chromium"}
    for event in shots:
        assert event.data is not None
        assert event.summary["pixel_digest"] == pixel_digest(event.data)
