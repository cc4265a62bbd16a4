"""Fixtures for the engine tests: the local test site, and Pillow as the default renderer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import ThreadingHTTPServer

import pytest

from .support import PAGES, SiteHandler, huge_page


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (the timeout test) is expected, not news


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """Base URL (no trailing slash) of the test site on 127.0.0.1."""
    SiteHandler.huge = huge_page()
    server = QuietServer(("127.0.0.1", 0), partial(SiteHandler, directory=str(PAGES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def pillow_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests draw with Pillow unless they ask for Chromium (fast and machine-independent)."""
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
