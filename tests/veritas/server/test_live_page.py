"""The live page in a real browser (the system's Chromium, driven by Playwright): an audit of a
corpus site started from the page, its progress, a screenshot, the final score; then a user
who stops an audit midway. Hostile page titles stay text."""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .support import LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("VERITAS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SITES = Path(__file__).resolve().parents[3] / "fixtures" / "sites"
HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium installed"),
]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """The corpus's guestbook site (hostile titles) over HTTP on loopback."""
    handler = functools.partial(_Quiet, directory=str(SITES / "guestbook-cafe"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=HEADLESS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.dialogs = dialogs
        yield page
        browser.close()


def test_an_audit_started_from_the_page_shows_progress_screenshots_and_score(
    serve: Any, site: str, browser_page: Any, tmp_path: Path
) -> None:
    server: LiveServer = serve(allow_file_urls=False)
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.base + "/")
    page.fill("#url", site)
    page.select_option("#tier", "standard_audit")
    page.click("#go")
    page.wait_for_selector("#phases li.running, #phases li.done", timeout=60_000)
    page.wait_for_selector("#shots img", timeout=120_000)
    page.wait_for_selector("#verdict:not([hidden])", timeout=180_000)
    page.wait_for_selector("#ipc dt", timeout=30_000)
    shot = Path(os.environ.get("VERITAS_PAGE_SHOT") or tmp_path / "live-page.png")
    page.screenshot(path=str(shot), full_page=True)

    assert page.text_content("#state") == "completed"
    assert int(page.text_content("#score") or "-1") in range(101)
    assert page.locator("#phases li.done").count() == 5
    assert page.eval_on_selector_all("#shots img", "imgs => imgs.map(i => i.naturalWidth)")[0] > 0
    log = page.inner_text("#log")
    assert "audit_complete" in log
    # The site's title says <script>alert(1)</script> and <img src=x onerror=…>: text only.
    assert page.dialogs == []
    assert "<script>alert(1)</script>" in page.inner_text("#pages")  # shown, as text
    assert page.locator("img[src='x']").count() == 0
    assert "mode" in page.inner_text("#ipc")
    assert errors == []


def test_stopping_an_audit_from_the_page_cancels_it(
    serve: Any, browser_page: Any, tmp_path: Path
) -> None:
    server: LiveServer = serve(allow_file_urls=True)
    page = browser_page
    page.goto(server.base + "/")
    page.fill("#url", "synthetic:?events=3000&rate=100")
    page.click("#go")
    page.wait_for_selector("#log li:nth-child(20)", timeout=60_000)  # (the policy forbids
    # the string evaluation wait_for_function would need)
    page.click("#stop")
    assert (page.text_content("#state") or "").startswith("cancelled")
    _, audits = server.request("GET", "/api/audits?limit=1")
    audit_id = audits["audits"][0]["audit_id"]
    assert server.wait_status(audit_id, "cancelled")["status"] == "cancelled"
