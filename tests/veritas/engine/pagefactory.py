"""Build a scouted ``Page`` from HTML without a server, for the rule tests."""

from __future__ import annotations

from veritas.engine.fetch import FetchResult, RawCookie, RedirectHop
from veritas.engine.htmlparse import parse_html
from veritas.engine.scout import Page


def make_page(
    html: str,
    url: str = "https://shop.test/",
    *,
    headers: dict[str, str] | None = None,
    cookies: list[RawCookie] | None = None,
    redirects: list[RedirectHop] | None = None,
    requested: str = "",
    tls_version: str = "TLSv1.3",
) -> Page:
    result = FetchResult(
        requested_url=requested or url,
        final_url=url,
        status=200,
        reason="OK",
        headers=headers or {},
        content_type="text/html",
        charset="utf-8",
        body=html.encode(),
        truncated=False,
        redirects=redirects or [],
        cookies=cookies or [],
        tls_version=tls_version if url.startswith("https:") else "",
    )
    page = Page(requested or url, 0, result=result, html=html, encoding="utf-8")
    page.doc = parse_html(html, url)
    return page
