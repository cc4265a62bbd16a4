"""The fixture site server: every sidecar rule, one origin per site, silence and shutdown."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.corpus.sites import SiteConfigError, discover_sites, load_site_config
from harness.corpus.siteserver import SiteServer, serve_sites

BUNDLED_SITES = Path(__file__).resolve().parents[3] / "fixtures" / "sites"

SIDECAR = """\
description: every rule kind once
headers:
  - {name: X-Site, value: alpha}
rules:
  - {match: /teapot, status: 418, body: "<h1>short and stout</h1>"}
  - match: /cookies
    file: index.html
    headers:
      - {name: Set-Cookie, value: "a=1; Path=/; HttpOnly"}
      - {name: Set-Cookie, value: "b=2; Path=/; Secure"}
  - {match: /hop, status: 301, redirect: /index.html}
  - {match: /cross, redirect: "{site:beta}/landing.html"}
  - {match: /away, redirect: "http://phish.invalid/x"}
  - {match: /slow, delay: 0.6, body: late}
  - {match: /forever, delay: 30, body: never}
  - {match: /drip, file: index.html, chunked: {chunk_size: 7, interval: 0.01}}
  - {match: /data.txt, content_type: "application/json"}
  - {match: "/gen/*.html", generate: {kind: repeat, template: _t.html, fragment: _f.html, count: 3}}
  - {match: /logo.png, generate: {kind: png, width: 4, height: 3}}
  - {match: /blob, generate: {kind: bytes, size: 1000, seed: 5}}
  - {match: /token, body: "ref {{random}} at {{now}}", dynamic: [random, now]}
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def sites_dir(tmp_path: Path) -> Path:
    root = tmp_path / "sites"
    _write(
        root / "alpha" / "index.html", "<html><title>Alpha</title><p>Hello from alpha.</p></html>"
    )
    _write(root / "alpha" / "data.txt", '{"ok": true}')
    _write(root / "alpha" / "_t.html", "<ol>{{content}}</ol>")
    _write(root / "alpha" / "_f.html", "<li>lot {{n}}</li>")
    _write(root / "alpha" / "site.yaml", SIDECAR)
    _write(root / "beta" / "landing.html", "<p>beta landing</p>")
    _write(root / "beta" / "404.html", "<p>beta has no such page</p>")
    return root


@pytest.fixture
def server(sites_dir: Path) -> Iterator[SiteServer]:
    with serve_sites(sites_dir) as srv:
        yield srv


def fetch(url: str, method: str = "GET") -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, parts.path or "/")
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_serves_files_and_directory_index(server: SiteServer) -> None:
    status, headers, body = fetch(server.url_for("alpha"))
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Site"] == "alpha"  # site-wide header
    assert b"Hello from alpha." in body
    assert headers["Date"] is None  # responses are byte-identical across requests


def test_status_rule_with_inline_body(server: SiteServer) -> None:
    status, _, body = fetch(server.url_for("alpha", "/teapot"))
    assert (status, body) == (418, b"<h1>short and stout</h1>")


def test_repeated_headers_are_all_sent(server: SiteServer) -> None:
    _, headers, _ = fetch(server.url_for("alpha", "/cookies"))
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/; Secure"]


def test_redirects_relative_cross_site_and_external(server: SiteServer) -> None:
    status, headers, body = fetch(server.url_for("alpha", "/hop"))
    assert (status, headers["Location"], body) == (301, "/index.html", b"")
    status, headers, _ = fetch(server.url_for("alpha", "/cross"))
    assert status == 302
    assert headers["Location"] == server.url_for("beta", "/landing.html")
    assert fetch(headers["Location"])[2] == b"<p>beta landing</p>"
    assert fetch(server.url_for("alpha", "/away"))[1]["Location"] == "http://phish.invalid/x"


def test_delay_holds_the_response(server: SiteServer) -> None:
    start = time.monotonic()
    status, _, body = fetch(server.url_for("alpha", "/slow"))
    assert (status, body) == (200, b"late")
    assert time.monotonic() - start >= 0.6


def test_chunked_body_is_trickled_and_reassembles(server: SiteServer) -> None:
    parts = urlsplit(server.url_for("alpha", "/drip"))
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(b"GET /drip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    assert rest.startswith(b"7\r\n") and rest.endswith(b"0\r\n\r\n")
    assert fetch(server.url_for("alpha", "/drip"))[2] == (
        b"<html><title>Alpha</title><p>Hello from alpha.</p></html>"
    )


def test_content_type_override(server: SiteServer) -> None:
    assert fetch(server.url_for("alpha", "/data.txt"))[1]["Content-Type"] == "application/json"


def test_generated_bodies(server: SiteServer) -> None:
    status, headers, body = fetch(server.url_for("alpha", "/gen/any.html"))
    assert status == 200
    assert body == b"<ol><li>lot 1</li><li>lot 2</li><li>lot 3</li></ol>"
    _, headers, png = fetch(server.url_for("alpha", "/logo.png"))
    assert headers["Content-Type"] == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    _, headers, blob = fetch(server.url_for("alpha", "/blob"))
    assert headers["Content-Type"] == "application/octet-stream" and len(blob) == 1000
    assert fetch(server.url_for("alpha", "/blob"))[2] == blob  # seeded, so repeatable


def test_png_decodes() -> None:
    from io import BytesIO

    from PIL import Image

    from harness.corpus.sites import SiteConfig
    from harness.corpus.siteserver import generate_body

    png, ctype = generate_body(
        SiteConfig("x", Path(".")), {"kind": "png", "width": 70, "height": 3, "seed": 7}
    )
    assert ctype == "image/png"
    with Image.open(BytesIO(png)) as img:
        assert (img.format, img.size, img.mode) == ("PNG", (70, 3), "RGB")
        # the gradient, pixel for pixel: red 4x + seed, green 4y + seed, blue 2(x + y), mod 256
        assert img.getpixel((0, 0)) == (7, 7, 0)
        assert img.getpixel((69, 2)) == ((69 * 4 + 7) % 256, 15, 142)
        expected = bytes(
            channel
            for y in range(3)
            for x in range(70)
            for channel in ((x * 4 + 7) % 256, (y * 4 + 7) % 256, (x + y) * 2 % 256)
        )
        assert img.tobytes() == expected
    # the same spec, the same bytes: a fixture's response is byte-identical on every request
    again, _ = generate_body(
        SiteConfig("x", Path(".")), {"kind": "png", "width": 70, "height": 3, "seed": 7}
    )
    assert again == png


def test_dynamic_tokens_change_per_request(server: SiteServer) -> None:
    first = fetch(server.url_for("alpha", "/token"))[2]
    second = fetch(server.url_for("alpha", "/token"))[2]
    assert first != second
    assert b"{{" not in first
    assert first.startswith(b"ref ") and first.endswith(b"Z")


def test_head_sends_headers_only(server: SiteServer) -> None:
    status, headers, body = fetch(server.url_for("alpha"), method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_not_found_sidecar_and_traversal(server: SiteServer) -> None:
    assert fetch(server.url_for("alpha", "/nope.html"))[0] == 404
    assert fetch(server.url_for("beta", "/nope.html"))[2] == b"<p>beta has no such page</p>"
    assert fetch(server.url_for("alpha", "/site.yaml"))[0] == 404
    assert fetch(server.url_for("alpha", "/../beta/landing.html"))[0] == 404


def test_one_origin_per_site(server: SiteServer) -> None:
    assert set(server.base_urls) == {"alpha", "beta"}
    ports = {urlsplit(url).port for url in server.base_urls.values()}
    assert len(ports) == 2
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in server.base_urls.values())
    assert fetch(server.url_for("beta", "/landing.html"))[0] == 200
    assert fetch(server.url_for("alpha", "/landing.html"))[0] == 404
    with pytest.raises(KeyError, match="unknown site 'gamma'"):
        server.url_for("gamma")


def test_shutdown_releases_ports_and_does_not_wait_for_delays(sites_dir: Path) -> None:
    with serve_sites(sites_dir) as srv:
        url = srv.url_for("alpha", "/forever")
        waiter = threading.Thread(target=lambda: _swallow(url), daemon=True)
        waiter.start()
        time.sleep(0.2)
        start = time.monotonic()
    assert time.monotonic() - start < 3
    port = urlsplit(url).port or 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert "stopped" in repr(srv)


def _swallow(url: str) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):
        fetch(url)


def test_server_writes_nothing_to_stdout_or_stderr(
    sites_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with serve_sites(sites_dir) as srv:
        for path in ("/", "/teapot", "/nope", "/hop", "/drip"):
            fetch(srv.url_for("alpha", path))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("rules: [{match: /a, colour: red}]", "unknown key(s) ['colour']; accepted:"),
        ("rules: [{match: a}]", "'match' must be a path or glob starting with '/'"),
        ("rules: [{match: /a, status: 99}]", "'status' is 99; accepted: an integer 100..599"),
        ("rules: [{match: /a, delay: fast}]", "'delay' must be a number"),
        ("rules: [{match: /a, headers: [{name: X}]}]", "exactly 'name' and 'value'"),
        ("rules: [{match: /a, headers: [{name: 'X Y', value: v}]}]", "not a valid header name"),
        ("rules: [{match: /a, chunked: yes please}]", "'chunked' must be true or a mapping"),
        ("rules: [{match: /a, dynamic: [uuid]}]", "'dynamic' must be a list of: now, random"),
        ("rules: [{match: /a, file: missing.html}]", "'file': 'missing.html' not found"),
        ("rules: [{match: /a, generate: {kind: video}}]", "accepted kinds: bytes, png, repeat"),
        ("rules: [{match: /a, generate: {kind: png, width: 2}}]", "requires 'height'"),
        ("rules: [{match: /a, body: x, file: index.html}]", "at most one of 'file', 'body'"),
        ("colour: red", "unknown key(s) ['colour']; accepted: description, headers, rules"),
        ("rules: {match: /a}", "'rules' must be a list"),
        ("rules: [{match: /a, match: /b}]", "duplicate key 'match'"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_sidecar_errors_name_file_rule_and_key(tmp_path: Path, sidecar: str, message: str) -> None:
    _write(tmp_path / "s" / "index.html", "<p>x</p>")
    _write(tmp_path / "s" / "site.yaml", sidecar)
    with pytest.raises(SiteConfigError) as info:
        load_site_config(tmp_path / "s")
    assert str(tmp_path / "s" / "site.yaml") in str(info.value)
    assert message in str(info.value)


def test_rule_errors_name_the_rule_index(tmp_path: Path) -> None:
    _write(tmp_path / "s" / "site.yaml", "rules: [{match: /ok}, {match: /bad, status: 700}]")
    with pytest.raises(SiteConfigError, match=r"rules\[1\]: 'status' is 700"):
        load_site_config(tmp_path / "s")


def test_duplicate_site_names_across_dirs(tmp_path: Path) -> None:
    _write(tmp_path / "one" / "shop" / "index.html", "a")
    _write(tmp_path / "two" / "shop" / "index.html", "b")
    with pytest.raises(SiteConfigError, match="site name 'shop' already defined"):
        discover_sites([tmp_path / "one", tmp_path / "two"])
    with pytest.raises(SiteConfigError, match="sites directory does not exist"):
        discover_sites([tmp_path / "three"])


def test_bundled_sites_all_serve_their_home_page() -> None:
    with serve_sites(BUNDLED_SITES) as srv:
        assert len(srv.sites) >= 20
        for site in srv.sites:
            status, headers, body = fetch(srv.url_for(site))
            assert status == 200, site
            assert headers["Content-Type"].startswith("text/html"), site
            assert body.lstrip().lower().startswith(b"<!doctype html>"), site
