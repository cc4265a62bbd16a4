"""sitecheck: a small audit engine written against the engine contract alone.

It imports nothing from ``veritas``: an engine is a callable ``audit(url, tier, emit)`` and
``emit(type, phase, *, step, pct, detail, summary, data)`` is all it is given. It fetches the
page (http, https or file), looks at a few things a person would, draws a picture of what it
found with Pillow and emits it as a screenshot, in four phases of its own: ``fetch``,
``inspect``, ``picture``, ``verdict``.

    PYTHONPATH=examples/engines veritas audit URL --engine sitecheck:audit

It is deterministic for a deterministic site: nothing it emits depends on the time or the
machine, so the differential harness can demand an exact match.
"""

from __future__ import annotations

import hashlib
import io
import re
import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Any, Protocol

from PIL import Image, ImageDraw

TIMEOUT_S = 10.0
MAX_BYTES = 2 * 1024 * 1024


class Emit(Protocol):
    def __call__(
        self,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> object: ...


class _Page(HTMLParser):
    """Title, links, forms and password fields of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.links: list[str] = []
        self.forms: list[str] = []
        self.passwords = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "title":
            self._in_title = True
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self.forms.append(a.get("action", ""))
        elif tag == "input" and a.get("type", "").lower() == "password":
            self.passwords += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "sitecheck/1.0"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status or 200, headers, response.read(MAX_BYTES)
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(MAX_BYTES)


def _charset(headers: dict[str, str]) -> str:
    match = re.search(r"charset=([\w-]+)", headers.get("content-type", ""))
    return match.group(1) if match else "utf-8"


def _findings(url: str, status: int, headers: dict[str, str], page: _Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(kind: str, severity: str, title: str) -> None:
        found.append(
            {"id": f"S{len(found) + 1:02d}", "type": kind, "severity": severity, "title": title}
        )

    if status >= 400:
        add("http_status", "high", f"the page answered HTTP {status}")
    if not page.title.strip():
        add("no_title", "low", "the page has no title")
    if url.startswith("http:") and page.passwords:
        add("password_over_http", "high", "a password field on a page served without TLS")
    if url.startswith(("http:", "https:")):
        for header in ("content-security-policy", "x-content-type-options"):
            if header not in headers:
                add("missing_header", "low", f"no {header} header")
    for action in page.forms:
        if action.startswith("http:"):
            add("form_to_http", "medium", f"a form posts to {action}")
    return found


def _picture(title: str, findings: list[dict[str, Any]], score: int) -> bytes:
    """A 320×200 card: the score as a bar, one stripe per finding, coloured by severity."""
    colours = {"low": (230, 190, 60), "medium": (235, 130, 40), "high": (200, 40, 40)}
    image = Image.new("RGB", (320, 200), (250, 250, 247))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 310, 30), outline=(60, 60, 60))
    draw.rectangle((11, 11, 11 + round(298 * score / 100), 29), fill=(40, 150, 80))
    draw.text((10, 40), title.encode("ascii", "replace").decode()[:48], fill=(20, 20, 20))
    for i, finding in enumerate(findings[:12]):
        y = 60 + i * 11
        draw.rectangle((10, y, 310, y + 8), fill=colours[finding["severity"]])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def audit(url: str, tier: str, emit: Emit) -> None:
    emit(
        "audit_start",
        "fetch",
        step="start",
        detail=f"sitecheck {url} ({tier})",
        summary={"url": url},
    )
    emit("phase_start", "fetch", step="fetch", pct=5.0, detail="fetching the page")
    try:
        status, headers, body = _fetch(url)
    except (OSError, ValueError) as exc:
        emit(
            "audit_error",
            "fetch",
            step="fetch_failed",
            pct=100.0,
            detail=f"cannot fetch {url}: {type(exc).__name__}",
            summary={"url": url, "error": {"kind": "fetch_failed", "type": type(exc).__name__}},
        )
        return
    text = body.decode(_charset(headers), errors="replace")
    emit(
        "phase_complete",
        "fetch",
        step="fetch",
        pct=25.0,
        detail=f"HTTP {status}, {len(body)} bytes",
        summary={"status": status, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()},
    )

    emit("phase_start", "inspect", step="inspect", pct=30.0, detail="reading the page")
    page = _Page()
    page.feed(text)
    page.close()
    findings = _findings(url, status, headers, page)
    for finding in findings:
        emit(
            "finding",
            "inspect",
            step=finding["type"],
            pct=50.0,
            detail=finding["title"],
            summary=finding,
        )
    emit(
        "phase_complete",
        "inspect",
        step="inspect",
        pct=60.0,
        detail=f"{len(findings)} findings",
        summary={"title": page.title.strip(), "links": len(page.links), "forms": len(page.forms)},
    )

    penalty = {"low": 5, "medium": 15, "high": 35}
    score = max(0, 100 - sum(penalty[f["severity"]] for f in findings))
    emit("phase_start", "picture", step="picture", pct=65.0, detail="drawing the findings")
    png = _picture(page.title.strip(), findings, score)
    emit(
        "screenshot",
        "picture",
        step="card",
        pct=80.0,
        detail="findings card",
        summary={"label": "card", "sha256": hashlib.sha256(png).hexdigest()},
        data=png,
    )
    emit("phase_complete", "picture", step="picture", pct=85.0, detail="picture drawn")

    level = "fine" if score >= 80 else "doubtful" if score >= 50 else "poor"
    emit("phase_start", "verdict", step="verdict", pct=90.0, detail="scoring")
    emit("phase_complete", "verdict", step="verdict", pct=95.0, detail=f"score {score} ({level})")
    emit(
        "audit_complete",
        "verdict",
        step="complete",
        pct=100.0,
        detail=f"score {score}/100 ({level})",
        summary={
            "url": url,
            "tier": tier,
            "status": status,
            "title": page.title.strip(),
            "findings": findings,
            "score": score,
            "level": level,
        },
    )
