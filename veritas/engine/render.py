"""The built-in renderer: draws a page's title, headings, text, links and form fields with Pillow.

Used when no Chromium is installed (or ``VERITAS_RENDERER=pillow``). It is a legible sketch
of the page, not a browser: no CSS, no images, text in the order the document gives it. The
output depends only on the page and on Pillow's bundled font, so it is pixel-identical
between runs on the same Pillow version.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Iterator

from PIL import Image, ImageDraw, ImageFont

from veritas.engine.htmlparse import Block, Field, PageDocument

BACKGROUND = (255, 255, 255)
TEXT = (32, 33, 36)
MUTED = (95, 99, 104)
LINK = (26, 13, 171)
BAR = (241, 243, 244)
BORDER = (154, 160, 166)
BUTTON = (232, 240, 254)
HEADING_SIZES = {"h1": 30, "h2": 24, "h3": 20, "h4": 17, "h5": 16, "h6": 15}
BODY_SIZE = 15
BAR_HEIGHT = 44
#: No viewport shows more text than this; wrapping a 5 MB paragraph would only cost time.
MAX_BLOCK_CHARS = 20_000

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=16)
def font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def drawable(text: str) -> str:
    """Text as drawn: control characters (NUL, line separators…) become spaces, and invisible
    format characters and combining marks are left out (the bundled font has no glyphs for them
    and would draw a box for each). The bundled font covers Latin only, so CJK, Hebrew, Arabic
    and emoji still show as boxes: a sketch, but one that keeps the shape of the text.

    Only for the picture: events carry the page's text unchanged.
    """
    out = []
    for c in text[:MAX_BLOCK_CHARS]:
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category not in ("Cf", "Mn", "Me"):
            out.append(c)
    return "".join(out)


def wrap(text: str, face: Font, width: int) -> Iterator[str]:
    """Greedy word wrap; a word wider than the line is broken between characters."""
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if face.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            yield line
        line = ""
        while face.getlength(word) > width and len(word) > 1:
            cut = 1
            while cut < len(word) and face.getlength(word[: cut + 1]) <= width:
                cut += 1
            yield word[:cut]
            word = word[cut:]
        line = word
    if line:
        yield line


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.width = width
        self.height = height
        self.margin = 24 if width >= 600 else 14
        self.y = BAR_HEIGHT + 16

    @property
    def full(self) -> bool:
        return self.y >= self.height

    def text_block(
        self,
        text: str,
        size: int,
        colour: tuple[int, int, int],
        *,
        indent: int = 0,
        underline: bool = False,
        bold: bool = False,
        gap: int = 8,
    ) -> None:
        face = font(size)
        left = self.margin + indent
        line_height = int(size * 1.35)
        for line in wrap(drawable(text), face, self.width - left - self.margin):
            if self.full:
                return
            self.draw.text(
                (left, self.y),
                line,
                fill=colour,
                font=face,
                stroke_width=1 if bold else 0,
                stroke_fill=colour,
            )
            if underline:
                base = self.y + size + 2
                self.draw.line((left, base, left + face.getlength(line), base), fill=colour)
            self.y += line_height
        self.y += gap

    def field(self, control: Field, label: Block | None) -> None:
        face = font(BODY_SIZE)
        left = self.margin
        if control.kind in ("checkbox", "radio"):
            box = (left, self.y + 2, left + 16, self.y + 18)
            if control.kind == "radio":
                self.draw.ellipse(box, outline=BORDER, width=2)
                if control.checked:
                    self.draw.ellipse((left + 4, self.y + 6, left + 12, self.y + 14), fill=LINK)
            else:
                self.draw.rectangle(box, outline=BORDER, width=2)
                if control.checked:
                    self.draw.line(
                        (left + 3, self.y + 10, left + 7, self.y + 15, left + 13, self.y + 5),
                        fill=LINK,
                        width=3,
                    )
            text = label.text if label is not None else control.label or control.name
            saved, self.margin = self.margin, self.margin + 24
            self.text_block(text, BODY_SIZE, TEXT, gap=6)
            self.margin = saved
            return
        if control.kind in ("submit", "reset", "button", "image"):
            self.button(control.value or control.kind.capitalize())
            return
        height = 64 if control.kind == "textarea" else 30
        right = min(self.width - self.margin, left + 320)
        self.draw.rectangle((left, self.y, right, self.y + height), outline=BORDER, width=1)
        shown = (
            control.value or control.placeholder or control.label or control.name or control.kind
        )
        if control.kind == "password" and control.value:
            shown = "•" * min(len(control.value), 12)
        colour = TEXT if control.value else MUTED
        if control.kind == "select":
            self.draw.text((right - 18, self.y + 6), "▼", fill=MUTED, font=font(12))
        line = next(wrap(drawable(shown), face, right - left - 28), "")
        self.draw.text((left + 8, self.y + 6), line, fill=colour, font=face)
        self.y += height + 10

    def button(self, text: str) -> None:
        face = font(BODY_SIZE)
        line = next(wrap(drawable(text), face, self.width - 2 * self.margin - 24), "")
        right = self.margin + int(face.getlength(line)) + 24
        self.draw.rounded_rectangle(
            (self.margin, self.y, right, self.y + 32), radius=6, fill=BUTTON, outline=LINK
        )
        self.draw.text((self.margin + 12, self.y + 7), line, fill=LINK, font=face)
        self.y += 42

    def bar(self, title: str, url: str) -> None:
        self.draw.rectangle((0, 0, self.width, BAR_HEIGHT), fill=BAR)
        self.draw.line((0, BAR_HEIGHT, self.width, BAR_HEIGHT), fill=BORDER)
        width = self.width - 2 * self.margin
        self.draw.text(
            (self.margin, 5),
            next(wrap(drawable(title or "(untitled)"), font(15), width), ""),
            fill=TEXT,
            font=font(15),
            stroke_width=1,
            stroke_fill=TEXT,
        )
        self.draw.text(
            (self.margin, 25),
            next(wrap(drawable(url), font(12), width), ""),
            fill=MUTED,
            font=font(12),
        )


def render_page(doc: PageDocument, url: str, width: int, height: int) -> bytes:
    """PNG bytes of *doc* drawn into a *width*×*height* viewport."""
    canvas = _Canvas(width, height)
    canvas.bar(doc.title, url)
    flow = doc.flow
    index = 0
    while index < len(flow) and not canvas.full:
        item = flow[index]
        index += 1
        if isinstance(item, Field):
            label = None
            if item.kind in ("checkbox", "radio") and index < len(flow):
                following = flow[index]
                if isinstance(following, Block) and following.kind == "label":
                    label = following
                    index += 1
            canvas.field(item, label)
        elif item.kind in HEADING_SIZES:
            canvas.text_block(item.text, HEADING_SIZES[item.kind], TEXT, bold=True, gap=12)
        elif item.kind == "link":
            canvas.text_block(item.text, BODY_SIZE, LINK, underline=True)
        elif item.kind == "button":
            canvas.button(item.text)
        elif item.kind == "li":
            canvas.text_block("• " + item.text, BODY_SIZE, TEXT, indent=12, gap=4)
        elif item.kind == "option":
            continue
        else:
            canvas.text_block(item.text, BODY_SIZE, TEXT)
    out = io.BytesIO()
    canvas.image.save(out, format="PNG")
    return out.getvalue()
