"""Helpers for the engine tests: a list-collecting sink, the local test site's handler, ``audit``.

The site serves ``tests/engine/pages`` plus routes for each bad-input condition. It binds
127.0.0.1 on a free port; ``localhost`` on the same port counts as another domain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from veritas.engine import run_audit
from veritas.protocol.event import ProgressEvent
from veritas.protocol.sinks import ListSink

PAGES = Path(__file__).parent / "pages"
PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
HUGE_BYTES = 5 * 1024 * 1024 + 100_000


@dataclass
class Collector(ListSink):
    """A ``ListSink`` with shortcuts for assertions."""

    audit_id: str = "test"

    @property
    def last(self) -> ProgressEvent:
        return self.events[-1]

    def of_type(self, kind: str) -> list[ProgressEvent]:
        return [e for e in self.events if e.type == kind]

    def findings(self) -> list[dict[str, Any]]:
        return [e.summary for e in self.of_type("finding")]


def huge_page() -> bytes:
    paragraph = "<p>" + "Lorem ipsum dolor sit amet, 日本語 テキスト. " * 20 + "</p>\n"
    body = "<!DOCTYPE html><html><head><title>Huge</title></head><body>"
    reps = HUGE_BYTES // len(paragraph.encode()) + 1
    return (body + paragraph * reps + "</body></html>").encode()


class SiteHandler(SimpleHTTPRequestHandler):
    huge = b""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        port = self.server.server_port  # type: ignore[attr-defined]
        html = b"<html><head><title>%s</title></head><body><p>%s</p></body></html>"
        if path == "/loop-a":
            self._redirect("/loop-b")
        elif path == "/loop-b":
            self._redirect("/loop-a")
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{n - 1}" if n > 0 else "/clean/index.html", 301)
        elif path == "/to-localhost":
            self._redirect(f"http://localhost:{port}/clean/index.html")
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._send(code, html % (b"Error", b"error page"), "text/html")
        elif path == "/binary":
            self._send(200, PNG_BYTES * 10, "application/octet-stream")
        elif path == "/png-as-html":
            self._send(200, PNG_BYTES, "text/html")
        elif path == "/json":
            self._send(200, b'{"a": 1}', "application/json")
        elif path == "/slow":
            time.sleep(10)
            self._send(200, html % (b"Slow", b"slow"), "text/html")
        elif path == "/huge":
            self._send(200, SiteHandler.huge, "text/html; charset=utf-8")
        elif path == "/latin1":
            body = "<html><head><title>Caf\u00e9</title></head><body><p>\u201cna\u00efve\u201d \u20ac</p></body></html>"
            self._send(200, body.encode("cp1252"), "text/html; charset=ISO-8859-1")
        elif path == "/hardened":
            self._send(
                200,
                html % (b"Hardened", b"fine"),
                "text/html; charset=utf-8",
                {
                    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                    "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "strict-origin-when-cross-origin",
                },
            )
        elif path == "/cookies":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Set-Cookie", "sessionid=abc123; Path=/")
            self.send_header("Set-Cookie", "prefs=dark; Path=/; HttpOnly; SameSite=Lax")
            cookie_body = html % (b"Cookies", b"cookies")
            self.send_header("Content-Length", str(len(cookie_body)))
            self.end_headers()
            self.wfile.write(cookie_body)
        else:
            super().do_GET()


def audit(url: str, tier: str = "quick_scan", timeout: float = 5.0) -> Collector:
    sink = Collector()
    run_audit(url, tier, sink.emit, request_timeout=timeout)
    return sink
