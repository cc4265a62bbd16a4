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
        if not self.changed_pixels:
            return "no pixel differs"
        left, top, right, bottom = self.bbox or (0, 0, 0, 0)
        noun = "pixel differs" if self.changed_pixels == 1 else "pixels differ"
        return (
            f"{self.changed_pixels} {noun} within x {left}–{right - 1}, y {top}–{bottom - 1} "
            f"(box {right - left}×{bottom - top})"
        )


def changed_mask(left: Image.Image, right: Image.Image) -> Image.Image:
    """An "L" image, 255 where any of the four channels differs (by as little as 1), else 0.

    Each channel is tested on its own: converting the difference to grey first would round a
    change of 1 in one channel away.
    """
    delta = ImageChops.difference(left, right)
    mask = Image.new("L", left.size, 0)
    for channel in delta.split():
        mask = ImageChops.lighter(mask, channel.point(lambda v: 255 if v else 0))
    return mask


def pixel_diff(left_png: bytes, right_png: bytes) -> PixelDiff:
    left = decode_image(left_png).convert("RGBA")
    right = decode_image(right_png).convert("RGBA")
    if left.size != right.size:
        return PixelDiff(left.size, right.size, None, 0, None)
    mask = changed_mask(left, right)
    bbox = mask.getbbox()
    changed = int(mask.histogram()[255])
    faded = Image.blend(left.convert("RGB"), Image.new("RGB", left.size, "white"), 0.7)
    faded.paste(Image.new("RGB", left.size, (220, 0, 0)), mask=mask)
    buf = io.BytesIO()
    faded.save(buf, format="PNG")
    return PixelDiff(left.size, right.size, bbox, changed, buf.getvalue())
