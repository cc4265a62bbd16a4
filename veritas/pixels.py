"""Pixel digests: screenshots are compared by what they show, never by their file bytes.

``pixel_digest`` hashes what is seen: the size and the pixels as RGBA. Two encodings of the
same pixels give the same digest — a lossless re-encode, another compression level, an RGB
image saved as RGBA (opaque alpha), a palette image of the same colours — and one changed pixel, or a
change of 1 in one channel, does not.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image


class ImageDecodeError(ValueError):
    """Bytes that Pillow cannot decode as an image."""


def decode_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # Pillow raises several unrelated types for bad input
        raise ImageDecodeError(f"cannot decode image ({len(data)} bytes): {exc}") from None
    return image


def pixel_digest(data: bytes) -> str:
    """``sha256:<hex>`` over the image's size and its pixels converted to RGBA."""
    image = decode_image(data)
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    h = hashlib.sha256()
    h.update(f"RGBA\0{image.width}x{image.height}\0".encode("ascii"))
    h.update(rgba.tobytes())
    return "sha256:" + h.hexdigest()
