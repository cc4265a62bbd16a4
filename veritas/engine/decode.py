"""Decoding page bytes to text the way browsers do (BOM, HTTP charset, meta prescan, UTF-8).

Only bytes that cannot be decoded are replaced; everything else, including NUL, zero-width
and line-separator characters, reaches the events unchanged.
"""

from __future__ import annotations

import codecs
import re

#: WHATWG maps these labels to windows-1252; Python's latin-1 would decode 0x80-0x9F wrongly.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "x-sjis": "shift_jis",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.I)


def decode_html(body: bytes, header_charset: str) -> tuple[str, str]:
    """Decode per the HTML rules: BOM, then the HTTP charset, then ``<meta charset>``, then UTF-8.

    Returns (text, encoding used). Only undecodable bytes are replaced.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    if body.startswith(codecs.BOM_UTF16_BE):
        return body[2:].decode("utf-16-be", errors="replace"), "utf-16-be"
    candidates = [header_charset]
    match = _META_CHARSET.search(body[:2048])
    if match:
        candidates.append(match.group(1).decode("ascii", "replace").lower())
    for label in candidates:
        name = _known_codec(label)
        if name:
            return body.decode(name, errors="replace"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Valid multibyte sequences mean UTF-8 with some damage (a cut at the size cap, a stray
        # byte); only high bytes that never form UTF-8 mean a legacy single-byte page.
        text = body.decode("utf-8", errors="replace")
        if any(c > "\x7f" and c != "\ufffd" for c in text):
            return text, "utf-8"
        return body.decode("cp1252", errors="replace"), "cp1252"


def _known_codec(label: str) -> str:
    label = label.strip().lower()
    if not label:
        return ""
    label = _CHARSET_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return ""
    # A page cannot be UTF-16 if it was found by an ASCII-compatible meta prescan.
    return "utf-8" if name.startswith("utf-16") else name
