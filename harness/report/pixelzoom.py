"""Magnified crops of where two screenshots differ, for the review page.

A full screenshot shown a third of the page wide cannot show a difference of a few pixels
(the pixel fault changes one); the crop around the changed pixels' box, enlarged without
smoothing, shows each changed pixel as a block a reviewer can see and compare.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from veritas.pixels import ImageDecodeError, decode_image

#: Unchanged pixels kept around the box, so the change is seen in its surroundings.
MARGIN = 6
#: The crop is enlarged to about this many pixels on its longer side, at most ×16.
TARGET = 240
MAX_SCALE = 16
#: A box larger than this (either side) is visible in the full images already.
MAX_BOX = 160


def zoom_box(
    bbox: Sequence[int], size: tuple[int, int]
) -> tuple[tuple[int, int, int, int], int] | None:
    """The crop (left, top, right, bottom) around *bbox* and its scale, or None when the
    changed pixels cover too much of the image for a zoom to add anything."""
    left, top, right, bottom = bbox
    if right - left > MAX_BOX or bottom - top > MAX_BOX:
        return None
    box = (
        max(0, left - MARGIN),
        max(0, top - MARGIN),
        min(size[0], right + MARGIN),
        min(size[1], bottom + MARGIN),
    )
    longest = max(box[2] - box[0], box[3] - box[1], 1)
    return box, max(1, min(MAX_SCALE, TARGET // longest))


def zoomed_png(path: Path, box: tuple[int, int, int, int], scale: int) -> bytes | None:
    """The crop of the image at *path*, enlarged *scale* times (nearest neighbour), as PNG."""
    try:
        image = decode_image(path.read_bytes())
    except (OSError, ImageDecodeError):
        return None
    crop = image.convert("RGBA").crop(box)
    crop = crop.resize((crop.width * scale, crop.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    return buf.getvalue()


def changed_pixels(
    left: Path, right: Path, bbox: Sequence[int], limit: int = 4
) -> tuple[list[tuple[int, int, tuple[int, ...], tuple[int, ...]]], int]:
    """The first *limit* changed pixels inside *bbox* as (x, y, left RGBA, right RGBA), and how
    many changed there in all: a change of one level in one channel is invisible, its
    values are not."""
    box = (bbox[0], bbox[1], bbox[2], bbox[3])
    try:
        a = decode_image(left.read_bytes()).convert("RGBA").crop(box)
        b = decode_image(right.read_bytes()).convert("RGBA").crop(box)
    except (OSError, ImageDecodeError):
        return [], 0
    if a.size != b.size:
        return [], 0
    width, ab, bb = a.width, a.tobytes(), b.tobytes()
    found: list[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = []
    total = 0
    for i in range(0, len(ab), 4):
        if ab[i : i + 4] != bb[i : i + 4]:
            total += 1
            if len(found) < limit:
                x, y = bbox[0] + (i // 4) % width, bbox[1] + (i // 4) // width
                found.append((x, y, tuple(ab[i : i + 4]), tuple(bb[i : i + 4])))
    return found, total
