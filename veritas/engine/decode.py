"""Decoding page bytes to text the way browsers do: BOM, HTTP charset, meta prescan, default.

Only the labels of the WHATWG Encoding Standard are honoured (``webencodings`` holds its label
table). A page cannot name an arbitrary Python codec: ``unicode_escape``, ``utf-7`` or ``rot13``
are unknown labels, ignored as a browser ignores them, and the next rule decides. Only bytes
that cannot be decoded are replaced (by U+FFFD); everything else, including NUL, zero-width and
line-separator characters, is decoded unchanged (the parser then drops NUL from body text, as
the HTML standard's tree builder does). No decoder here yields a surrogate.

Encodings are reported by their WHATWG names in lower case (``windows-1252``, ``shift_jis``,
``utf-16le``), never by the Python codec that does the work.
"""

from __future__ import annotations

import codecs
import functools

import webencodings  # type: ignore[import-untyped]

#: The meta prescan reads this many bytes, the amount the HTML standard advises.
PRESCAN_BYTES = 1024

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
)
_WS = b"\t\n\f\r "
_UNMAPPED = "\ufffe"  # a byte without a character in a codecs.charmap_decode table

#: The standard's single-byte encodings, decoded through a table (see _single_byte_table).
_SINGLE_BYTE = frozenset(
    ["ibm866", "koi8-r", "koi8-u", "macintosh", "windows-874", "x-mac-cyrillic"]
    + [f"iso-8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, "8-i", 10, 13, 14, 15, 16)]
    + [f"windows-{n}" for n in range(1250, 1259)]
)
#: Where the standard's single-byte indexes differ from Python's codecs beyond the C1 rule of
#: _single_byte_table: its KOI8-U is KOI8-RU, and its windows-1255 has a point Python lacks.
_INDEX_FIXES = {
    "koi8-u": {0xAE: "\u045e", 0xBE: "\u040e"},
    "windows-1255": {0xCA: "\u05ba"},
}
#: The standard's gbk decoder is its gb18030 decoder: a GBK-labelled page may use all of it.
_DECODER_OF = {"gbk": "gb18030"}


def encoding_name(label: str) -> str | None:
    """The WHATWG name of the encoding *label* stands for, or None for an unknown label.

    Surrounding ASCII whitespace and ASCII case are ignored, as the standard says.
    """
    encoding = webencodings.lookup(label)
    return None if encoding is None else str(encoding.name)


def decode_html(body: bytes, header_charset: str) -> tuple[str, str]:
    """Decode per the HTML rules: BOM, then the HTTP charset, then the meta prescan, then UTF-8.

    Returns (text, WHATWG name of the encoding used). An unknown label is ignored, as browsers
    ignore it: the next rule decides.
    """
    for bom, bom_name in _BOMS:
        if body.startswith(bom):
            return decode_as(body[len(bom) :], bom_name), bom_name
    name = (encoding_name(header_charset) if header_charset else None) or prescan(
        body[:PRESCAN_BYTES]
    )
    if name is not None:
        return decode_as(body, name), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Valid multibyte sequences mean UTF-8 with some damage (a cut at the size cap, a stray
        # byte); only high bytes that never form UTF-8 mean a legacy single-byte page.
        text = body.decode("utf-8", errors="replace")
        if any(c > "\x7f" and c != "\ufffd" for c in text):
            return text, "utf-8"
        return decode_as(body, "windows-1252"), "windows-1252"


def decode_as(body: bytes, name: str) -> str:
    """Decode *body* (its BOM already removed) with the encoding the standard calls *name*.

    Raises ValueError when *name* is not the name of one of the standard's encodings.
    """
    encoding = webencodings.lookup(name)
    if encoding is None or encoding.name != name:
        raise ValueError(f"encoding {name!r} is not a WHATWG encoding name (e.g. 'utf-8')")
    if name == "replacement":
        # The replacement decoder turns a whole non-empty stream into one U+FFFD: labels such
        # as iso-2022-kr lead here so that their escape sequences cannot smuggle in markup.
        return "\ufffd" if body else ""
    if name in _SINGLE_BYTE:
        return codecs.charmap_decode(body, "replace", _single_byte_table(name))[0]
    codec = codecs.lookup(_DECODER_OF[name]) if name in _DECODER_OF else encoding.codec_info
    # x-user-defined is not registered with Python's codecs; its codec object still decodes.
    return str(codec.decode(body, "replace")[0])


@functools.cache
def _single_byte_table(name: str) -> str:
    """The 256-character decoding table of the standard's single-byte encoding *name*.

    The standard's windows-* indexes map each byte 0x80-0x9F that Windows leaves unassigned to
    the C1 control of the same value; Python's cp125x codecs leave those bytes undecodable.
    """
    codec = str(webencodings.lookup(name).codec_info.name)
    chars = []
    for byte in range(256):
        try:
            char = bytes([byte]).decode(codec)
        except UnicodeDecodeError:
            c1 = name.startswith("windows-") and 0x80 <= byte <= 0x9F
            char = chr(byte) if c1 else _UNMAPPED
        chars.append(char)
    for byte, char in _INDEX_FIXES.get(name, {}).items():
        chars[byte] = char
    return "".join(chars)


def prescan(head: bytes) -> str | None:
    """The HTML standard's prescan of a byte stream: the encoding its ``<meta>`` declares.

    A meta whose label is unknown is passed over and the scan goes on. UTF-16 declared by a
    meta means UTF-8 (the meta was just read as ASCII), x-user-defined means windows-1252. With
    no such meta, an XML declaration at the very start may name the encoding.
    """
    # A UTF-16 "<?x" without a BOM cannot be read as ASCII: its byte pattern names it.
    if head.startswith(b"<\x00?\x00x\x00"):
        return "utf-16le"
    if head.startswith(b"\x00<\x00?\x00x"):
        return "utf-16be"
    try:
        found = _MetaScanner(head).run()
    except _OutOfBytes:
        found = None
    return found or _xml_declaration_encoding(head)


def _for_parser(name: str | None) -> str | None:
    if name in ("utf-16be", "utf-16le"):
        return "utf-8"
    if name == "x-user-defined":
        return "windows-1252"
    return name


class _OutOfBytes(Exception):
    """The scan needs a byte past the end: the standard aborts the prescan then."""


class _MetaScanner:
    """The byte loop of the standard's prescan, one construct (comment, tag, other) at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _OutOfBytes
        return self.data[self.pos]

    def skip(self, chars: bytes) -> None:
        while self.byte() in chars:
            self.pos += 1

    def run(self) -> str | None:
        data = self.data
        while self.pos < len(data):
            head = data[self.pos : self.pos + 6]
            if head.startswith(b"<!--"):
                # The closing "-->" may share its dashes with the opening: "<!-->" is a comment.
                end = data.find(b"-->", self.pos + 2)
                if end < 0:
                    raise _OutOfBytes
                self.pos = end + 2
            elif head[:5].lower() == b"<meta" and len(head) == 6 and head[5] in _WS + b"/":
                self.pos += 5
                found = self.meta()
                if found is not None:
                    return found
            elif head[:1] == b"<" and _is_letter(head[1:2] if head[1:2] != b"/" else head[2:3]):
                # Any other tag: its attributes are read and dropped, so that a "<meta" inside
                # an attribute value is not taken for a meta.
                while self.byte() not in _WS + b">":
                    self.pos += 1
                while self.attribute() is not None:
                    pass
            elif head[:2] in (b"<!", b"</", b"<?"):
                end = data.find(b">", self.pos)
                if end < 0:
                    raise _OutOfBytes
                self.pos = end
            self.pos += 1  # the standard's "next byte"
        return None

    def meta(self) -> str | None:
        """The attributes of one ``<meta``: the encoding it declares, if it is a known one."""
        seen: set[bytes] = set()
        got_pragma = False
        need_pragma: bool | None = None
        charset: str | None = None  # None: not set yet, or an unknown label
        charset_seen = False
        while (attribute := self.attribute()) is not None:
            name, value = attribute
            if name in seen:
                continue
            seen.add(name)
            if name == b"http-equiv":
                got_pragma = got_pragma or value == b"content-type"
            elif name == b"content" and charset is None and not charset_seen:
                found = _charset_from_content(value)
                if found is not None:
                    charset, need_pragma = found, True
            elif name == b"charset":
                charset, charset_seen = encoding_name(value.decode("latin-1")), True
                need_pragma = False
        if need_pragma is None or (need_pragma and not got_pragma) or charset is None:
            return None
        return _for_parser(charset)

    def attribute(self) -> tuple[bytes, bytes] | None:
        """The standard's "get an attribute": (name, value), ASCII lower-cased; None at ``>``."""
        self.skip(_WS + b"/")
        if self.byte() == ord(">"):
            return None
        name = bytearray()
        while True:
            b = self.byte()
            if b == ord("=") and name:
                self.pos += 1
                break
            if b in _WS:
                self.skip(_WS)
                if self.byte() != ord("="):
                    return bytes(name), b""
                self.pos += 1
                break
            if b in b"/>":
                return bytes(name), b""
            name.append(_lower(b))
            self.pos += 1
        self.skip(_WS)
        value = bytearray()
        quote = self.byte()
        if quote in b"\"'":
            self.pos += 1
            while (b := self.byte()) != quote:
                value.append(_lower(b))
                self.pos += 1
            self.pos += 1
            return bytes(name), bytes(value)
        if quote == ord(">"):
            return bytes(name), b""
        while (b := self.byte()) not in _WS + b">":
            value.append(_lower(b))
            self.pos += 1
        return bytes(name), bytes(value)


def _charset_from_content(value: bytes) -> str | None:
    """The standard's "extract a character encoding from a meta element" for ``content``."""
    text = value.decode("latin-1").lower()
    pos = 0
    while True:
        found = text.find("charset", pos)
        if found < 0:
            return None
        pos = found + len("charset")
        while pos < len(text) and text[pos] in "\t\n\f\r ":
            pos += 1
        if pos < len(text) and text[pos] == "=":
            break
    pos += 1
    while pos < len(text) and text[pos] in "\t\n\f\r ":
        pos += 1
    if pos >= len(text):
        return None
    if text[pos] in "\"'":
        end = text.find(text[pos], pos + 1)
        return encoding_name(text[pos + 1 : end]) if end >= 0 else None
    end = pos
    while end < len(text) and text[end] not in "\t\n\f\r ;":
        end += 1
    return encoding_name(text[pos:end])


def _xml_declaration_encoding(head: bytes) -> str | None:
    """The standard's "get an XML encoding": ``<?xml ... encoding="label"`` at the very start."""
    if not head.startswith(b"<?xml"):
        return None
    end = head.find(b">")
    declaration = head[:end] if end >= 0 else b""
    pos = declaration.find(b"encoding")
    if pos < 0:
        return None
    pos += len(b"encoding")
    while pos < len(declaration) and declaration[pos] <= 0x20:
        pos += 1
    if declaration[pos : pos + 1] != b"=":
        return None
    pos += 1
    while pos < len(declaration) and declaration[pos] <= 0x20:
        pos += 1
    quote = declaration[pos : pos + 1]
    if quote not in (b'"', b"'"):
        return None
    close = declaration.find(quote, pos + 1)
    label = declaration[pos + 1 : close]
    if close < 0 or any(b <= 0x20 for b in label):
        return None
    return _for_parser(encoding_name(label.decode("latin-1")))


def _is_letter(b: bytes) -> bool:
    return len(b) == 1 and (b"A" <= b <= b"Z" or b"a" <= b <= b"z")


def _lower(b: int) -> int:
    return b + 0x20 if 0x41 <= b <= 0x5A else b
