"""Decoding and parsing: charsets, implied end tags, hidden text, labels, selectors."""

from __future__ import annotations

import codecs

import pytest

from veritas.engine.decode import decode_html
from veritas.engine.htmlparse import Block, Field, parse_html


@pytest.mark.parametrize(
    ("body", "header", "text", "encoding"),
    [
        ("Café €".encode("windows-1252"), "iso-8859-1", "Café €", "windows-1252"),
        (b'<meta charset="windows-1252"><p>\x93q\x94', "", "<p>“q”", "windows-1252"),
        (codecs.BOM_UTF8 + "日本".encode(), "iso-8859-1", "日本", "utf-8"),
        ("日本".encode("utf-16le"), "", "", ""),
        ("日本".encode(), "", "日本", "utf-8"),
        ("日本".encode() + b"\xff", "bogus-charset", "日本\ufffd", "utf-8"),
        (b"caf\xe9 au lait", "", "café au lait", "windows-1252"),
    ],
)
def test_decode(body: bytes, header: str, text: str, encoding: str) -> None:
    decoded, used = decode_html(body, header)
    if text:
        assert decoded.endswith(text) and used == encoding


def test_utf16_with_bom() -> None:
    decoded, used = decode_html(codecs.BOM_UTF16_LE + "日本".encode("utf-16le"), "")
    assert (decoded, used) == ("日本", "utf-16le")


def test_blocks_and_selectors() -> None:
    doc = parse_html(
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<div id=main><p>One <b>bold</b> word<p>Two</div>"
        "<ul><li>a<li>b</ul><p hidden>secret</p><p style='display: none'>gone</p>"
        "<script>var x = 'not text';</script><p>end</body></html>",
        "http://x.test/",
    )
    assert doc.title == "T"
    assert [(b.kind, b.text, b.selector) for b in doc.blocks] == [
        ("p", "One bold word", "div#main > p:nth-of-type(1)"),
        ("p", "Two", "div#main > p:nth-of-type(2)"),
        ("li", "a", "body > ul:nth-of-type(1) > li:nth-of-type(1)"),
        ("li", "b", "body > ul:nth-of-type(1) > li:nth-of-type(2)"),
        ("p", "end", "body > p:nth-of-type(3)"),
    ]
    assert doc.inline_scripts == ["var x = 'not text';"]


def test_whitespace_collapse_keeps_unicode_separators() -> None:
    doc = parse_html("<p>  a \t\n b\u2028c\u00a0d\u200b\x00e  </p>", "file:///x.html")
    assert doc.text == "a b\u2028c\u00a0d\u200b\x00e"


def test_links_resolve_against_base() -> None:
    doc = parse_html(
        '<base href="https://cdn.test/dir/"><a href="../a.html#x" rel="NoFollow">A</a>',
        "http://x.test/",
    )
    (link,) = doc.links
    assert (link.href, link.text, link.rel) == ("https://cdn.test/a.html#x", "A", "nofollow")


def test_form_fields_and_labels() -> None:
    doc = parse_html(
        '<form action="/go" method="POST"><label for="e">E-mail</label><input id="e" name="email">'
        '<label><input type="checkbox" name="ins" checked> Insurance</label>'
        '<input type="hidden" name="csrf" value="t"></form><input name="outside">',
        "https://x.test/shop/",
    )
    (form,) = doc.forms
    assert (form.action, form.method) == ("https://x.test/go", "post")
    email, ins, csrf = form.fields
    assert (email.label, ins.label, ins.checked, csrf.hidden) == ("E-mail", "Insurance", True, True)
    assert doc.fields[-1].form_index == -1
    assert [type(item) for item in doc.flow] == [Block, Field, Field, Block, Field]


def test_all_link_block_takes_the_link_selector() -> None:
    doc = parse_html(
        '<p><a href="/x">No thanks</a></p><p>see <a href="/y">here</a></p>', "http://x.test/"
    )
    assert [(b.kind, b.selector) for b in doc.blocks] == [
        ("link", "p:nth-of-type(1) > a:nth-of-type(1)"),
        ("p", "p:nth-of-type(2)"),
    ]
