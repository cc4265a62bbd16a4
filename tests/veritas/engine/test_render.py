"""The Pillow renderer: size, legibility (something is drawn where text is), determinism, speed."""

from __future__ import annotations

import io
import time

from PIL import Image

from veritas.engine.htmlparse import parse_html
from veritas.engine.render import BACKGROUND, BAR_HEIGHT, drawable, render_page
from veritas.pixels import pixel_digest

HTML = (
    "<title>Shop 😀</title><h1>Heading</h1><p>Some paragraph text that is long enough to wrap "
    "on a phone-sized viewport, and then some more words.</p><a href='/x'>A link</a>"
    "<form><label><input type=checkbox checked name=x> Add-on</label><input name=q placeholder=Search>"
    "<input type=submit value=Go></form><p>NUL\x00 and\u2028separator</p>"
)


def ink_rows(png: bytes) -> list[int]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    return [
        y
        for y in range(BAR_HEIGHT + 1, height)
        if any(pixels[x, y] != BACKGROUND for x in range(0, width, 2))
    ]


def test_viewport_sizes_and_content() -> None:
    doc = parse_html(HTML, "https://shop.test/")
    for width, height in ((1280, 800), (390, 844)):
        png = render_page(doc, "https://shop.test/", width, height)
        image = Image.open(io.BytesIO(png))
        assert image.size == (width, height) and image.format == "PNG"
        rows = ink_rows(png)
        assert rows and rows[0] < 120 and rows[-1] < 500


def test_empty_page_draws_only_the_bar() -> None:
    assert ink_rows(render_page(parse_html("", "file:///x.html"), "file:///x.html", 390, 844)) == []


def test_pixel_identical_and_sensitive() -> None:
    doc = parse_html(HTML, "https://shop.test/")
    first = render_page(doc, "https://shop.test/", 1280, 800)
    assert pixel_digest(first) == pixel_digest(render_page(doc, "https://shop.test/", 1280, 800))
    other = parse_html(HTML.replace("Heading", "Headinh"), "https://shop.test/")
    assert pixel_digest(first) != pixel_digest(render_page(other, "https://shop.test/", 1280, 800))


def test_huge_paragraph_is_fast() -> None:
    doc = parse_html(
        "<p>" + "word " * 1_000_000 + "</p><p>" + "x" * 100_000 + "</p>", "file:///x.html"
    )
    started = time.monotonic()
    render_page(doc, "file:///x.html", 1280, 800)
    assert time.monotonic() - started < 10  # only what fits the viewport is wrapped


def test_drawable_replaces_only_controls() -> None:
    assert drawable("a\x00b\u2028c\u200bde\u0301é😀") == "a b cdeé😀"
