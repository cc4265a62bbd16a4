"""Where two screenshots differ: the bounding box of changed pixels and a diff image."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageChops

from veritas.pixels import decode_image


@dataclass
class PixelDiff:
    size_left: tuple[int, int]
    size_right: tuple[int, int]
    bbox: tuple[int, int, int, int] | None  # (left, top, right, bottom) of changed pixels
    changed_pixels: int
    diff_png: bytes | None  # changed pixels in red over a faded copy of the left image

    def describe(self) -> str:
        if self.size_left != self.size_right:
            return f"sizes differ: {self.size_left} vs {self.size_right}"
        return f"{self.changed_pixels} pixels differ within box {self.bbox}"


def pixel_diff(left_png: bytes, right_png: bytes) -> PixelDiff:
    left = decode_image(left_png).convert("RGBA")
    right = decode_image(right_png).convert("RGBA")
    if left.size != right.size:
        return PixelDiff(left.size, right.size, None, 0, None)
    delta = ImageChops.difference(left, right)
    mask = delta.convert("L").point(lambda v: 255 if v else 0)
    # Alpha-only changes vanish in "L"; fold the alpha channel's difference in.
    mask = ImageChops.lighter(mask, delta.getchannel("A").point(lambda v: 255 if v else 0))
    bbox = mask.getbbox()
    changed = int(mask.histogram()[255])
    faded = Image.blend(left.convert("RGB"), Image.new("RGB", left.size, "white"), 0.7)
    faded.paste(Image.new("RGB", left.size, (220, 0, 0)), mask=mask)
    buf = io.BytesIO()
    faded.save(buf, format="PNG")
    return PixelDiff(left.size, right.size, bbox, changed, buf.getvalue())
