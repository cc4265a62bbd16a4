"""Reading response headers: Set-Cookie attributes, Content-Type, the type of a file URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from veritas.engine.fetch import RawCookie, fetch, parse_set_cookie, split_content_type

SITE = "https://shop.test/"


def test_set_cookie_attributes_in_any_case() -> None:
    cookie = parse_set_cookie(
        "sid=1; SECURE; httponly; SameSite=Strict; Domain=.Shop.Test; Path=/a", SITE
    )
    assert cookie == RawCookie("sid", True, True, "strict", ".shop.test", "/a", False, SITE)


def test_an_unknown_attribute_is_not_another_cookie() -> None:
    # Read as a Cookie header, "Foo=bar" would be a second cookie that takes the Secure flag.
    cookie = parse_set_cookie("sid=1; Foo=bar; Secure", SITE)
    assert cookie is not None and (cookie.name, cookie.secure) == ("sid", True)


@pytest.mark.parametrize("value", ['{"a":1}', "a b", '"quoted"'])
def test_a_cookie_value_with_quotes_or_spaces_is_still_a_cookie(value: str) -> None:
    cookie = parse_set_cookie(f"prefs={value}; Path=/", SITE)
    assert cookie is not None and (cookie.name, cookie.httponly) == ("prefs", False)


@pytest.mark.parametrize(
    ("header", "persistent"),
    [
        ("a=1; Expires=Fri, 31-Dec-2038 23:59:59 GMT", True),
        ("a=1; Max-Age=3600", True),
        ("a=1; Expires=someday", False),  # not a date: the attribute is ignored
        ("a=1; Max-Age=soon", False),
        ("a=1", False),
    ],
)
def test_persistence(header: str, persistent: bool) -> None:
    cookie = parse_set_cookie(header, SITE)
    assert cookie is not None and cookie.persistent is persistent


def test_a_header_without_a_cookie_name_sets_nothing() -> None:
    assert parse_set_cookie("; Secure", SITE) is None


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("text/html; charset=UTF-8", ("text/html", "utf-8")),
        ('Text/HTML; Charset="Shift_JIS"', ("text/html", "shift_jis")),
        ("text/html;charset*=utf-8''ISO-8859-1", ("text/html", "iso-8859-1")),
        ("application/json", ("application/json", "")),
        ("", ("", "")),
    ],
)
def test_content_type(value: str, parsed: tuple[str, str]) -> None:
    assert split_content_type(value) == parsed


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("page.HTML", "text/html"),
        ("page.xhtml", "application/xhtml+xml"),
        ("data.json", "application/json"),
        ("page.html.gz", "application/octet-stream"),  # compressed: sniffed, not the .html
        ("notes", "text/html"),  # no extension: sniffed
    ],
)
def test_file_url_type(tmp_path: Path, name: str, content_type: str) -> None:
    body = b"\x1f\x8b\x08" if name.endswith(".gz") else b"<!doctype html><p>x"
    (tmp_path / name).write_bytes(body)
    assert fetch((tmp_path / name).as_uri(), timeout=5).content_type == content_type
