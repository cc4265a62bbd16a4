"""Scout: fetch the start page and same-site links breadth-first within the tier's page budget.

Each fetched URL counts toward the budget, whether it turns out to be a page or not, so the
time an audit can take is bounded by ``budget × request_timeout``. Links are followed in
document order, which makes the crawl order (and so every later event) deterministic.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any

from veritas.engine.decode import decode_html
from veritas.engine.fetch import (
    MAX_BYTES,
    FetchError,
    FetchResult,
    fetch,
    looks_binary,
    usv_string,
)
from veritas.engine.findings import Finding
from veritas.engine.htmlparse import PageDocument, parse_html

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Link targets that are certainly not pages; following them would only spend the budget.
_SKIP_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".svg",
        ".ico",
        ".pdf",
        ".zip",
        ".gz",
        ".tar",
        ".mp3",
        ".mp4",
        ".webm",
        ".css",
        ".js",
        ".json",
        ".xml",
        ".woff",
        ".woff2",
        ".ttf",
        ".exe",
        ".dmg",
    ]
)
#: Per-page lists in the final state are capped; the page's ``log`` event carries them all.
STATE_LIST_CAP = 50
_SHOWN_FIELD_VALUES = frozenset({"checkbox", "radio", "submit", "button", "reset", "select"})


@dataclass
class Page:
    url: str
    depth: int
    result: FetchResult | None = None
    error_kind: str = ""
    error: str = ""
    doc: PageDocument | None = None
    html: str = ""
    encoding: str = ""

    @property
    def ok(self) -> bool:
        return self.doc is not None

    @property
    def final_url(self) -> str:
        return self.result.final_url if self.result is not None else self.url

    @property
    def text(self) -> str:
        return self.doc.text if self.doc is not None else ""


def page_problem(result: FetchResult) -> tuple[str, str]:
    """(kind, message) when a fetched response is not an auditable page, else ("", "")."""
    if result.status is not None and result.status >= 400:
        return "http_status", f"{result.final_url} answered HTTP {result.status} {result.reason}"
    if result.content_type not in HTML_TYPES:
        return "not_html", f"{result.final_url} is {result.content_type or 'untyped'}, not HTML"
    if looks_binary(result.body):
        return "binary_content", f"{result.final_url} is labelled HTML but its content is binary"
    return "", ""


def load_page(url: str, depth: int, timeout: float) -> Page:
    page = Page(url, depth)
    try:
        page.result = fetch(url, timeout=timeout)
    except FetchError as exc:
        page.error_kind, page.error = exc.kind, exc.message
        return page
    page.error_kind, page.error = page_problem(page.result)
    if page.error_kind:
        return page
    page.html, page.encoding = decode_html(page.result.body, page.result.charset)
    page.doc = parse_html(page.html, page.result.final_url)
    return page


def same_site(url: str, site: urllib.parse.SplitResult) -> bool:
    parts = urllib.parse.urlsplit(url)
    if site.scheme == "file":
        root = posixpath.dirname(site.path) + "/"
        return parts.scheme == "file" and parts.path.startswith(root)
    return parts.scheme in ("http", "https") and parts.hostname == site.hostname


def crawl_candidates(page: Page, site: urllib.parse.SplitResult) -> list[str]:
    if page.doc is None:
        return []
    out: list[str] = []
    for link in page.doc.links:
        # A browser follows the href as a USVString: two hrefs that differ only in their lone
        # surrogates lead to one page, fetched once.
        target = urllib.parse.urldefrag(usv_string(link.href))[0]
        if not target or "nofollow" in link.rel or not same_site(target, site):
            continue
        ext = os.path.splitext(urllib.parse.urlsplit(target).path)[1].lower()
        if ext not in _SKIP_EXTENSIONS:
            out.append(target)
    return out


class Crawl:
    """Breadth-first crawl state; ``next_page`` fetches one page at a time for progress events."""

    def __init__(self, start: Page, budget: int, timeout: float) -> None:
        self.pages = [start]
        self.budget = budget
        self.timeout = timeout
        self.site = urllib.parse.urlsplit(start.final_url)
        self.seen = {
            urllib.parse.urldefrag(start.url)[0],
            urllib.parse.urldefrag(start.final_url)[0],
        }
        self.queue: deque[tuple[str, int]] = deque()
        self._enqueue(start)

    def _enqueue(self, page: Page) -> None:
        for target in crawl_candidates(page, self.site):
            if target not in self.seen:
                self.seen.add(target)
                self.queue.append((target, page.depth + 1))

    def next_page(self) -> Page | None:
        if len(self.pages) >= self.budget or not self.queue:
            return None
        url, depth = self.queue.popleft()
        page = load_page(url, depth, self.timeout)
        self.seen.add(urllib.parse.urldefrag(page.final_url)[0])
        self.pages.append(page)
        self._enqueue(page)
        return page


def scout_findings(page: Page) -> list[Finding]:
    findings: list[Finding] = []
    if page.error_kind:
        findings.append(
            Finding(
                "availability",
                "broken_page",
                "low" if page.error_kind in ("not_html", "binary_content") else "medium",
                1.0,
                "A linked page could not be audited",
                page.url,
                detail=page.error,
            )
        )
    if page.result is not None and page.result.truncated:
        findings.append(
            Finding(
                "availability",
                "size_cap_hit",
                "low",
                1.0,
                f"The response is larger than {MAX_BYTES} bytes; only the first {MAX_BYTES} were audited",
                page.url,
            )
        )
    return findings


def _field_json(control: Any) -> dict[str, Any]:
    return {
        "kind": control.kind,
        "name": control.name,
        "value": control.value if control.kind in _SHOWN_FIELD_VALUES else "",
        "checked": control.checked,
        "label": control.label,
        "selector": control.selector,
        "hidden": control.hidden,
    }


def page_record(page: Page, *, full: bool) -> dict[str, Any]:
    """The JSON form of a page: ``full`` for its scout ``log`` event, capped for the final state."""
    result, doc = page.result, page.doc
    cap = None if full else STATE_LIST_CAP
    text = page.text
    record: dict[str, Any] = {
        "url": page.url,
        "final_url": page.final_url,
        "depth": page.depth,
        "ok": page.ok,
        "error": {"kind": page.error_kind, "message": page.error} if page.error_kind else None,
        "status": result.status if result else None,
        "content_type": result.content_type if result else "",
        "encoding": page.encoding,
        "bytes": len(result.body) if result else 0,
        "truncated": bool(result and result.truncated),
        "tls_version": result.tls_version if result else "",
        "headers": dict(sorted(result.headers.items())) if result else {},
        "redirects": [
            {"url": hop.url, "status": hop.status, "location": hop.location}
            for hop in (result.redirects if result else [])
        ],
        "cookies": [
            {
                "name": c.name,
                "secure": c.secure,
                "httponly": c.httponly,
                "samesite": c.samesite,
                "domain": c.domain,
                "path": c.path,
                "persistent": c.persistent,
                "set_by": c.set_by,
            }
            for c in (result.cookies if result else [])
        ],
        "title": doc.title if doc else "",
        "meta": list(doc.meta[:cap]) if doc else [],
        "links_total": len(doc.links) if doc else 0,
        "links": [
            {"href": link.href, "text": link.text, "rel": link.rel, "selector": link.selector}
            for link in (doc.links[:cap] if doc else [])
        ],
        "forms": [
            {
                "index": form.index,
                "action": form.action,
                "method": form.method,
                "selector": form.selector,
                "fields": [_field_json(control) for control in form.fields[:cap]],
            }
            for form in (doc.forms[:cap] if doc else [])
        ],
        "scripts": [
            {"src": res.url, "selector": res.selector}
            for res in (doc.resources if doc else [])
            if res.kind == "script"
        ][:cap],
        "inline_scripts": len(doc.inline_scripts) if doc else 0,
        "text_chars": len(text),
        "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    if full:
        record["text"] = text
    return record
