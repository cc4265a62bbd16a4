"""Page decoding follows the WHATWG Encoding Standard and the HTML prescan, never Python's codecs.

A page that names a Python-only codec (``unicode_escape``, ``utf-7``, ``rot13``) is decoded as
if it named nothing; the bytes, not the label, then decide.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from veritas.engine.decode import decode_as, decode_html, encoding_name, prescan

from .support import audit


@pytest.mark.parametrize(
    "label",
    ["unicode_escape", "unicode-escape", "utf-7", "rot13", "rot_13", "raw_unicode_escape",
     "punycode", "idna", "uu", "base64", "hex", "zlib", "utf-32", "cp037", "mbcs", "latin_1",
     "", " ", "utf-8\x00", "garbage", "\u212aoi8-r"],
)  # fmt: skip
def test_python_only_and_garbage_labels_are_unknown(label: str) -> None:
    assert encoding_name(label) is None
    body = f'<meta charset="{label}"><p>\\ud800 caf\u00e9 +AGE- uryyb'.encode("utf-8", "replace")
    text, used = decode_html(body, "")
    assert used == "utf-8"
    assert text.endswith("<p>\\ud800 caf\u00e9 +AGE- uryyb")  # backslashes stay backslashes


@pytest.mark.parametrize("label", ["unicode_escape", "utf-7", "rot13", "garbage"])
def test_unknown_http_charset_falls_through_to_the_meta(label: str) -> None:
    assert decode_html(b'<meta charset="koi8-r"><p>\xc1', label) == (
        '<meta charset="koi8-r"><p>\u0430',
        "koi8-r",
    )


def test_unknown_meta_label_is_passed_over_for_the_next_meta() -> None:
    body = b'<meta charset="unicode_escape"><meta charset="windows-1251"><p>\xc0'
    assert decode_html(body, "")[1] == "windows-1251"


def test_no_decoder_yields_a_surrogate() -> None:
    hostile = (
        b"\\ud800\\udfff&#xD800; \xed\xa0\x80 \xed\xbf\xbf \xf0\x9f\x98",
        b"a\x00\x00\xd8b\x00\x00\xdcc",
    )
    for body in hostile:
        for label in ("", "utf-8", "utf-16le", "utf-16be", "unicode_escape", "utf-7"):
            text, _ = decode_html(body, label)
            assert not any("\ud800" <= c <= "\udfff" for c in text), (body, label, text)


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("latin1", "windows-1252"),
        ("ISO-8859-1", "windows-1252"),
        ("us-ascii", "windows-1252"),
        ("x-sjis", "shift_jis"),
        ("ms_kanji", "shift_jis"),
        ("utf8", "utf-8"),
        (" UTF-8\t", "utf-8"),
        ("unicode-1-1-utf-8", "utf-8"),
        ("gb2312", "gbk"),
        ("iso-2022-kr", "replacement"),
        ("utf-16", "utf-16le"),
        ("x-user-defined", "x-user-defined"),
    ],
)
def test_labels_map_to_whatwg_names(label: str, name: str) -> None:
    assert encoding_name(label) == name


def test_latin1_is_windows_1252_including_its_c1_bytes() -> None:
    body = "Caf\u00e9 \u20ac\u2018q\u2019".encode("cp1252") + b" \x81\x8d\x8f\x90\x9d"
    text, used = decode_html(body, "latin1")
    assert used == "windows-1252"
    # The five bytes Windows leaves unassigned are C1 controls in the standard, not U+FFFD.
    assert text == "Caf\u00e9 \u20ac\u2018q\u2019 \x81\x8d\x8f\x90\x9d"
    assert decode_html(b'<meta charset="latin1"><p>\x80', "") == (
        '<meta charset="latin1"><p>\u20ac',
        "windows-1252",
    )


def test_single_byte_indexes_where_python_differs() -> None:
    assert decode_as(b"\xae\xbe", "koi8-u") == "\u045e\u040e"  # KOI8-U is KOI8-RU
    assert decode_as(b"\xca", "windows-1255") == "\u05ba"
    assert decode_as(b"\xaa", "windows-1253") == "\ufffd"  # unassigned in the index too


def test_x_sjis_meta_is_shift_jis() -> None:
    body = b'<meta charset="x-sjis"><p>' + "\u65e5\u672c".encode("shift_jis")
    assert decode_html(body, "") == ('<meta charset="x-sjis"><p>\u65e5\u672c', "shift_jis")


@pytest.mark.parametrize("label", ["utf-16", "utf-16le", "UTF-16BE", "unicodefffe", "ucs-2"])
def test_utf16_in_a_meta_means_utf8(label: str) -> None:
    body = f'<meta charset="{label}"><p>caf\u00e9 \U0001f600'.encode()
    assert decode_html(body, "") == (body.decode(), "utf-8")


def test_utf16_from_http_decodes_as_utf16() -> None:
    assert decode_html("\u65e5\u672c".encode("utf-16-le"), "utf-16") == (
        "\u65e5\u672c",
        "utf-16le",
    )
    assert decode_html("\u65e5\u672c".encode("utf-16-be"), "utf-16be") == (
        "\u65e5\u672c",
        "utf-16be",
    )


def test_bom_beats_http_charset_and_meta() -> None:
    body = codecs.BOM_UTF16_BE + '<meta charset="koi8-r">\u00e9'.encode("utf-16-be")
    assert decode_html(body, "windows-1251") == ('<meta charset="koi8-r">\u00e9', "utf-16be")
    # Only the first BOM is a BOM: a second one is text.
    assert decode_html(codecs.BOM_UTF8 * 2 + b"x", "latin1") == ("\ufeffx", "utf-8")


def test_x_user_defined() -> None:
    assert decode_html(b"a\x80\xff", "x-user-defined") == ("a\uf780\uf7ff", "x-user-defined")
    body = b'<meta charset="x-user-defined"><p>\x80'
    assert decode_html(body, "") == ('<meta charset="x-user-defined"><p>\u20ac', "windows-1252")


def test_replacement_turns_the_whole_page_into_one_ufffd() -> None:
    body = b'<meta charset="iso-2022-kr"><p>\x1b$)C<script>x</script>'
    assert decode_html(body, "") == ("\ufffd", "replacement")
    assert decode_html(b"anything", "replacement") == ("\ufffd", "replacement")
    assert decode_html(b"", "hz-gb-2312") == ("", "replacement")


def test_gbk_label_decodes_with_gb18030() -> None:
    assert decode_html(b"\x81\x30\x81\x30", "gbk") == ("\x80", "gbk")


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b'<meta http-equiv="Content-Type" content="text/html; charset=KOI8-R">', "koi8-r"),
        (b"<meta content='text/html; charset=\"koi8-r\"' http-equiv=content-type>", "koi8-r"),
        (b'<meta content="text/html; charset=koi8-r">', None),  # no pragma
        (b"<meta charset=koi8-r charset=utf-8>", "koi8-r"),  # a repeated attribute is ignored
        (b'<meta charset="garbage" content="charset=koi8-r" http-equiv=content-type>', None),
        (b"<!-- <meta charset=koi8-r> --><meta charset=big5>", "big5"),
        (b"<!--><meta charset=koi8-r>", "koi8-r"),
        (b"<div title='<meta charset=koi8-r>'><meta charset=euc-kr>", "euc-kr"),
        (b"<script>'<meta charset=koi8-r>'</script>", "koi8-r"),  # the prescan is not a parser
        (b"<meta/charset=koi8-r>", "koi8-r"),
        (b"<metacharset=koi8-r>", None),
        (b"<meta charset=koi8-r", None),  # out of bytes: no answer
        (b'<?xml version="1.0" encoding="windows-1250"?><p>', "windows-1250"),
        (b'<?xml version="1.0" encoding="utf-16"?>', "utf-8"),
        (b'<?xml encoding="win dows-1250"?>', None),
        (b"<\x00?\x00x\x00m\x00l\x00", "utf-16le"),
        (b"", None),
    ],
)
def test_prescan(head: bytes, name: str | None) -> None:
    assert prescan(head) == name


def test_meta_after_the_first_1024_bytes_is_not_seen() -> None:
    body = b"<!-- " + b"x" * 1024 + b' --><meta charset="koi8-r"><p>\xc1'
    assert decode_html(body, "")[1] == "windows-1252"


def test_decode_as_rejects_a_label_that_is_not_a_name() -> None:
    with pytest.raises(ValueError, match="'latin1' is not a WHATWG encoding name"):
        decode_as(b"", "latin1")


def test_unicode_escape_page_audits_as_utf8(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(
        b'<meta charset="unicode_escape"><title>t\\ud800</title>'
        b'<p>caf\xc3\xa9 \\ud83d\\ude00</p><a href="\\ud800.html">x</a>'
    )
    sink = audit(page.as_uri())
    assert sink.last.type == "audit_complete", sink.last.detail
    (state_page,) = sink.last.summary["pages"]
    assert state_page["encoding"] == "utf-8"
    assert state_page["title"] == "t\\ud800"
    (page_log,) = [e for e in sink.of_type("log") if e.step == "page"]
    assert page_log.summary["text"] == "caf\u00e9 \\ud83d\\ude00\nx"
