"""Every bad input ends in one ``audit_error`` (or a completed audit that reports it), never a raise."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from veritas.engine import scout
from veritas.engine.decode import decode_html

from .support import Collector, audit


def assert_audit_error(sink: Collector, kind: str, phase: str) -> None:
    __tracebackhide__ = True
    assert sink.events[0].type == "audit_start"
    assert sink.last.type == "audit_error", [e.type for e in sink.events]
    assert [e.type for e in sink.events].count("audit_error") == 1
    assert not sink.of_type("audit_complete")
    error = sink.last.summary["error"]
    assert (error["kind"], error["phase"], sink.last.phase) == (kind, phase, phase), error
    assert error["message"] and sink.last.detail == error["message"]


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("", "malformed_url"),
        ("not a url", "malformed_url"),
        ("example.com/page", "malformed_url"),
        ("http://", "malformed_url"),
        ("http://host:99999/", "malformed_url"),
        ("http://exa mple.com/", "malformed_url"),
        ("ftp://example.com/", "unsupported_scheme"),
        ("javascript:alert(1)", "unsupported_scheme"),
        ("file://remote-host/etc/passwd", "malformed_url"),
    ],
)
def test_bad_url_fails_in_init(url: str, kind: str) -> None:
    assert_audit_error(audit(url), kind, "init")


def test_unknown_tier() -> None:
    sink = Collector()
    from veritas.engine import run_audit

    run_audit("http://127.0.0.1:1/", "ultra", sink.emit)
    assert_audit_error(sink, "unknown_tier", "init")
    assert "quick_scan" in sink.last.detail


def test_unknown_renderer(monkeypatch: pytest.MonkeyPatch, site: str) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "crayon")
    assert_audit_error(audit(f"{site}/clean/index.html"), "renderer_unavailable", "init")


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = audit(f"http://127.0.0.1:{port}/")
    assert_audit_error(sink, "connection_refused", "scout")
    assert [e.type for e in sink.events] == [
        "audit_start",
        "phase_start",
        "phase_error",
        "audit_error",
    ]


def test_unknown_host() -> None:
    assert_audit_error(audit("http://no-such-host.invalid/"), "unknown_host", "scout")


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_http_error_status(site: str, status: int) -> None:
    sink = audit(f"{site}/status/{status}")
    assert_audit_error(sink, "http_status", "scout")
    assert str(status) in sink.last.detail


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/json", "not_html"), ("/binary", "not_html"), ("/png-as-html", "binary_content")],
)
def test_not_a_page(site: str, path: str, kind: str) -> None:
    assert_audit_error(audit(site + path), kind, "scout")


def test_redirect_loop(site: str) -> None:
    sink = audit(f"{site}/loop-a")
    assert_audit_error(sink, "redirect_loop", "scout")


def test_too_many_redirects(site: str) -> None:
    assert_audit_error(audit(f"{site}/chain/11"), "too_many_redirects", "scout")


def test_ten_redirects_are_followed(site: str) -> None:
    sink = audit(f"{site}/chain/9")
    assert sink.last.type == "audit_complete"
    page = sink.last.summary["pages"][0]
    assert len(page["redirects"]) == 10
    assert page["final_url"] == f"{site}/clean/index.html"


def test_timeout_is_bounded(site: str) -> None:
    started = time.monotonic()
    sink = audit(f"{site}/slow", timeout=0.5)
    assert time.monotonic() - started < 5  # the server answers after 10 s
    assert_audit_error(sink, "timeout", "scout")


def test_missing_file() -> None:
    assert_audit_error(audit("file:///nonexistent/veritas/page.html"), "not_found", "scout")


def test_directory_is_not_a_page(tmp_path: Path) -> None:
    assert_audit_error(audit(tmp_path.as_uri()), "not_a_file", "scout")


def test_oversize_page_completes_with_condition(site: str) -> None:
    sink = audit(f"{site}/huge")
    assert sink.last.type == "audit_complete"
    state = sink.last.summary
    assert state["pages"][0]["truncated"] is True
    assert state["pages"][0]["bytes"] == 5 * 1024 * 1024
    assert "size_cap_hit" in state["conditions"]
    assert any(f["type"] == "size_cap_hit" for f in sink.findings())
    # The page's text travels whole in the scout's per-page log event.
    (page_log,) = [e for e in sink.of_type("log") if e.step == "page"]
    assert page_log.summary["text_chars"] == len(page_log.summary["text"]) > 1_000_000


def test_broken_subpage_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path
    (root / "index.html").write_text('<a href="gone.html">gone</a><a href="data.json">data</a>')
    sink = audit((root / "index.html").as_uri(), "standard_audit")
    assert sink.last.type == "audit_complete"
    broken = [f for f in sink.findings() if f["type"] == "broken_page"]
    assert [f["evidence"]["page_url"] for f in broken] == [(root / "gone.html").as_uri()]
    assert sink.last.summary["conditions"] == ["broken_page"]


class _RecordingHandler(SimpleHTTPRequestHandler):
    requested: ClassVar[list[str]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()


@pytest.fixture
def recording_site(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """(base URL, request targets received) of a static site served from tmp_path."""
    requested: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"requested": requested})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()


def _lone_surrogates_in_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages decode to text where "{HIGH}" and "{LOW}" are lone surrogates.

    No decoder yields one, but the crawl must not depend on that: another engine's text, or a
    future decoder, may hold them.
    """

    def decode(body: bytes, charset: str) -> tuple[str, str]:
        text, used = decode_html(body, charset)
        return text.replace("{HIGH}", "\ud800").replace("{LOW}", "\udfff"), used

    monkeypatch.setattr(scout, "decode_html", decode)


def test_link_with_lone_surrogate_is_followed_as_ufffd(
    tmp_path: Path, recording_site: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, requested = recording_site
    _lone_surrogates_in_text(monkeypatch)
    (tmp_path / "index.html").write_text(
        '<a href="{HIGH}x.html">one</a><a href="{LOW}x.html">same page</a>'
    )
    (tmp_path / "\ufffdx.html").write_text("<title>Replacement</title><p>found")
    sink = audit(f"{base}/index.html", "standard_audit")
    assert sink.last.type == "audit_complete", sink.last.detail
    pages = sink.last.summary["pages"]
    assert [(p["url"], p["ok"], p["title"]) for p in pages] == [
        (f"{base}/index.html", True, ""),
        (f"{base}/\ufffdx.html", True, "Replacement"),
    ]
    # The parser reads the text as a browser does, each lone surrogate as U+FFFD; what is
    # requested is the UTF-8 of U+FFFD, once.
    assert pages[0]["links"][0]["href"] == f"{base}/\ufffdx.html"
    assert requested == ["/index.html", "/%EF%BF%BDx.html"]


def test_start_url_with_lone_surrogate_is_fetched_as_ufffd(
    tmp_path: Path, recording_site: tuple[str, list[str]]
) -> None:
    base, requested = recording_site
    (tmp_path / "\ufffd.html").write_text("<title>Replacement</title>")
    sink = audit(f"{base}/\udc80.html?q=\ud83d")
    assert sink.last.type == "audit_complete", sink.last.detail
    (page,) = sink.last.summary["pages"]
    assert page["final_url"] == f"{base}/\ufffd.html?q=\ufffd"
    assert requested == ["/%EF%BF%BD.html?q=%EF%BF%BD"]


def test_file_link_with_lone_surrogate_is_followed_as_ufffd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lone_surrogates_in_text(monkeypatch)
    (tmp_path / "index.html").write_text('<a href="{HIGH}x.html">one</a>')
    (tmp_path / "\ufffdx.html").write_text("<title>Replacement</title>")
    sink = audit((tmp_path / "index.html").as_uri(), "standard_audit")
    assert sink.last.type == "audit_complete", sink.last.detail
    assert [p["title"] for p in sink.last.summary["pages"]] == ["", "Replacement"]
