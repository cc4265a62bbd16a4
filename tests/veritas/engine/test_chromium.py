"""Chromium screenshots (slow; skipped when no Chromium is installed)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from veritas.engine.screenshots import (
    DESKTOP,
    FREEZE_STYLE,
    MOBILE,
    RendererError,
    child_environment,
    choose_renderer,
    chromium_screenshot,
    find_chromium,
    page_file_text,
)
from veritas.pixels import pixel_digest

from .support import PAGES, audit

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")


def test_choose_renderer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    assert choose_renderer() == ("pillow", None)
    monkeypatch.setenv("VERITAS_RENDERER", "chromium")
    monkeypatch.setenv("VERITAS_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(RendererError, match="no Chromium was found"):
        choose_renderer()
    monkeypatch.setenv("VERITAS_RENDERER", "auto")
    assert choose_renderer() == ("pillow", None)


def test_child_environment_drops_ipc_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITAS_IPC_AUTHKEY", "secret")
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    env = child_environment()
    assert "VERITAS_IPC_AUTHKEY" not in env and env["VERITAS_RENDERER"] == "pillow"


def test_base_and_freeze_style_go_after_doctype() -> None:
    assert page_file_text("<!DOCTYPE html><p>x", 'http://a.test/?q="1"') == (
        '<!DOCTYPE html><base href="http://a.test/?q=&quot;1&quot;">' + FREEZE_STYLE + "<p>x"
    )
    assert page_file_text("<p>x", "file:///a/b.html") == (
        '<base href="file:///a/b.html">' + FREEZE_STYLE + "<p>x"
    )


@pytest.mark.slow
@needs_chromium
def test_chromium_screenshot_is_deterministic() -> None:
    assert CHROMIUM is not None
    html = (PAGES / "shop" / "index.html").read_text(encoding="utf-8")
    base = (PAGES / "shop" / "index.html").as_uri()
    started = time.monotonic()
    first = chromium_screenshot(CHROMIUM, html, base, DESKTOP)
    elapsed = time.monotonic() - started
    assert Image.open(io.BytesIO(first)).size == (1280, 800)
    assert elapsed < 20  # about 0.6 s on an idle machine
    second = chromium_screenshot(CHROMIUM, html, base, DESKTOP)
    assert pixel_digest(first) == pixel_digest(second)
    mobile = chromium_screenshot(CHROMIUM, html, base, MOBILE)
    assert Image.open(io.BytesIO(mobile)).size == (390, 844)


@pytest.mark.slow
@needs_chromium
def test_chromium_timeout_kills_it() -> None:
    assert CHROMIUM is not None
    html = "<script>while (true) {}</script>"
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="killed"):
        chromium_screenshot(CHROMIUM, html, "file:///x.html", DESKTOP, timeout=1.0)
    assert time.monotonic() - started < 5


@pytest.mark.slow
@needs_chromium
def test_audit_with_chromium(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "chromium")
    first = audit(f"{site}/shop/index.html", "standard_audit")
    state = first.last.summary
    assert state["renderer"] == "chromium"
    assert {s["renderer"] for s in state["screenshots"]} == {"chromium"}
    second = audit(f"{site}/shop/index.html", "standard_audit")
    assert [s["digest"] for s in state["screenshots"]] == [
        s["digest"] for s in second.last.summary["screenshots"]
    ]
    assert os.environ["VERITAS_RENDERER"] == "chromium"
