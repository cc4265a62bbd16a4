"""Decoding and parsing: charsets, the HTML standard's tree, hidden text, labels, selectors."""

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
        # A declared charset that lies is still obeyed, as browsers obey it: mojibake.
        (b'<meta charset="windows-1252"><p>\xc3\xa9', "", "<p>\u00c3\u00a9", "windows-1252"),
        (codecs.BOM_UTF8 + b'<meta charset="windows-1252"><p>\xc3\xa9', "", "<p>é", "utf-8"),
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
    doc = parse_html("<p>  a \t\n b\u2028c\u00a0d\u200b\u0085e  </p>", "file:///x.html")
    assert doc.text == "a b\u2028c\u00a0d\u200b\u0085e"


def test_nul_in_text_is_dropped_as_browsers_drop_it() -> None:
    # The standard's "in body" insertion mode ignores U+0000; in a title it becomes U+FFFD.
    doc = parse_html("<title>t\x00</title><p>a\x00b</p>", "file:///x.html")
    assert (doc.title, doc.text) == ("t\ufffd", "ab")


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
        ("link", "body > p:nth-of-type(1) > a:nth-of-type(1)"),
        ("p", "body > p:nth-of-type(2)"),
    ]


def _blocks(html: str) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in parse_html(html, "http://x.test/").blocks]


def test_implied_end_tags() -> None:
    doc = parse_html(
        "<p>a<p>b<ul><li>1<li>2</ul><table><tr><td>x<td>y</table>"
        "<select><option>o1<option>o2</select>",
        "http://x.test/",
    )
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("p", "a"),
        ("p", "b"),
        ("li", "1"),
        ("li", "2"),
        ("td", "x"),
        ("td", "y"),
        ("option", "o1"),
        ("option", "o2"),
    ]
    # Rows sit in the implied <tbody>, where a browser's DOM has them.
    assert doc.blocks[5].selector == (
        "body > table:nth-of-type(1) > tbody:nth-of-type(1) > tr:nth-of-type(1) > td:nth-of-type(2)"
    )


def test_misnested_end_tag_does_not_end_the_paragraph() -> None:
    # The adoption agency: </b> inside <p> closes only the formatting, the paragraph goes on.
    assert _blocks("<b>1<p>2</b>3</p>") == [("body", "1"), ("p", "23")]


def test_stray_table_content_is_fostered_before_the_table() -> None:
    assert _blocks("<table><tr><td>cell</td></tr>Only 2 left<b>!</b></table>") == [
        ("body", "Only 2 left!"),
        ("td", "cell"),
    ]


def test_template_content_is_inert() -> None:
    doc = parse_html(
        '<template><a href="/t">t</a><script src="/t.js"></script><p>Only 1 left</p></template>'
        "<p>shown</p>",
        "http://x.test/",
    )
    assert (doc.links, doc.resources, doc.text) == ([], [], "shown")


def test_comments_and_cdata_are_not_text() -> None:
    assert _blocks("<p>a<!-- Only 2 left -->b<![CDATA[c]]>d</p>") == [("p", "abd")]


def test_void_elements_hold_no_content() -> None:
    doc = parse_html(
        '<p>a<br>b</br>c<img src="/i.png">d</img><input name="q">e</p>', "http://x.test/"
    )
    assert doc.text == "a b cde"
    assert [r.url for r in doc.resources] == ["http://x.test/i.png"]
    assert [f.name for f in doc.fields] == ["q"]


def test_title_is_text_and_an_svg_title_is_not_the_documents() -> None:
    doc = parse_html(
        "<svg><title>icon</title></svg><title><b>Sale</b> ends</title>", "http://x.test/"
    )
    assert doc.title == "<b>Sale</b> ends"
    assert doc.inline_scripts == [] and doc.text == ""


def test_base_applies_to_links_before_it() -> None:
    doc = parse_html('<a href="a.html">A</a><base href="https://cdn.test/d/">', "http://x.test/")
    assert [link.href for link in doc.links] == ["https://cdn.test/d/a.html"]


def test_a_label_labels_its_first_control_and_the_first_label_wins() -> None:
    doc = parse_html(
        '<label>Gift wrap <input type="checkbox" name="gift"><input name="note"></label>'
        '<label for="n2">Name</label><label>Other <input id="n2" name="name2"></label>',
        "http://x.test/",
    )
    assert [(f.name, f.label) for f in doc.fields] == [
        ("gift", "Gift wrap"),
        ("note", ""),
        ("name2", "Name"),  # the first of its two labels in document order
    ]


def test_deep_nesting_is_walked_without_recursion() -> None:
    doc = parse_html("<div>" * 3000 + "Only 1 left", "http://x.test/")
    assert doc.text == "Only 1 left" and doc.blocks[0].selector.count(">") == 3000
