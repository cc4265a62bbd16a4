"""The camera's two ways, both run here: one browser over the DevTools pipe (POSIX), and
one ``--screenshot`` launch per shot (what Windows uses; selected with ``cdp.SUPPORTED``).

Both modes of an audit use the same way on one machine, so the two need not agree on
pixels (they do not: the per-shot launch does not freeze the page the way the session
does); each must take a whole, settled picture of the viewport."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from veritas.engine import cdp
from veritas.engine.screenshots import DESKTOP, Camera, find_chromium
from veritas.pixels import pixel_digest

from .support import PAGES

CHROMIUM = find_chromium()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")
@pytest.mark.parametrize("supported", [True, False], ids=["devtools-pipe", "per-shot"])
def test_each_way_takes_a_settled_picture(supported: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CHROMIUM is not None
    page = PAGES / "shop" / "index.html"
    html, base = page.read_text(encoding="utf-8"), page.as_uri()
    monkeypatch.setattr(cdp, "SUPPORTED", supported)
    camera = Camera(CHROMIUM)
    try:
        shots = [camera.shoot(html, base, DESKTOP) for _ in range(2)]
        assert (camera._session is not None) is supported  # which way really ran
    finally:
        camera.close()
    assert Image.open(io.BytesIO(shots[0])).size == (DESKTOP.width, DESKTOP.height)
    assert pixel_digest(shots[0]) == pixel_digest(shots[1])
