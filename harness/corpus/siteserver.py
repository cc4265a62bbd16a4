"""Serve the corpus's static sites on 127.0.0.1, one listening port (one origin) per site.

Each ``fixtures/sites/<site>/`` directory is served by its own ``ThreadingHTTPServer`` so
that a same-site crawl stays inside one site and a cross-site link or redirect really leaves
the origin. Per-path response rules live in the site's ``site.yaml`` sidecar; every key is
documented in ``fixtures/README.md`` and an unknown key is a ``SiteConfigError``.

The server never writes to stdout: in stdout mode the audited child's stdout *is* the event
channel, and the harness may run this server in the same process as such a reader.
"""

from __future__ import annotations

import io
import mimetypes
import random
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PIL import Image

from harness.corpus.sites import SIDECAR, Rule, SiteConfig, discover_sites


def gradient(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic diagonal gradient: at (x, y) red ``4x + seed``, green ``4y + seed``,
    blue ``2(x + y)``, each modulo 256."""
    pixels = bytes(
        channel
        for y in range(height)
        for x in range(width)
        for channel in ((x * 4 + seed) % 256, (y * 4 + seed) % 256, ((x + y) * 2) % 256)
    )
    return Image.frombytes("RGB", (width, height), pixels)


def _png(width: int, height: int, seed: int) -> bytes:
    """The gradient as a PNG (Pillow's encoder: its bytes may differ from one Pillow version
    to another, its pixels never; nothing compares a fixture's bytes across versions)."""
    out = io.BytesIO()
    gradient(width, height, seed).save(out, format="PNG")
    return out.getvalue()


def generate_body(site: SiteConfig, spec: Mapping[str, Any]) -> tuple[bytes, str]:
    """Build a generated body and its default content type (deterministic per spec)."""
    kind = spec["kind"]
    if kind == "png":
        png = _png(int(spec["width"]), int(spec["height"]), int(spec.get("seed", 0)))
        return png, "image/png"
    if kind == "bytes":
        return random.Random(int(spec.get("seed", 0))).randbytes(int(spec["size"])), (
            "application/octet-stream"
        )
    template = (site.root / spec["template"]).read_text(encoding="utf-8")
    fragment = (site.root / spec["fragment"]).read_text(encoding="utf-8")
    content = "".join(fragment.replace("{{n}}", str(n)) for n in range(1, int(spec["count"]) + 1))
    return template.replace("{{content}}", content).encode("utf-8"), "text/html; charset=utf-8"


# --- serving ----------------------------------------------------------------------------


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Handlers may sit in a 30 s delay or an idle keep-alive read; never join them on close.
    block_on_close = False

    def __init__(self, site: SiteConfig, stopping: threading.Event) -> None:
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.site = site
        self.stopping = stopping
        self.base_urls: dict[str, str] = {}

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-body (a timed-out audit) is normal here; stay quiet.
        return None


class _SiteHandler(BaseHTTPRequestHandler):
    server: _SiteHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "VeritasFixture/1.0"
    sys_version = ""
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the default writes to stderr; a fixture server must stay silent

    def send_response(self, code: int, message: str | None = None) -> None:
        # No Date header: a fixture's response must be byte-identical on every request.
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        site = self.server.site
        path = unquote(urlsplit(self.path).path) or "/"
        rule = site.rule_for(path) or Rule(match=path)
        if rule.delay and self.server.stopping.wait(rule.delay):
            self.close_connection = True
            return
        status, body, ctype = self._body(site, rule, path)
        if rule.redirect is not None:
            status = rule.status or 302
            body, ctype = b"", ctype or "text/html; charset=utf-8"
        for token in rule.dynamic:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            value = secrets.token_hex(8) if token == "random" else now
            body = body.replace(b"{{" + token.encode() + b"}}", value.encode())
        self.send_response(status)
        self.send_header("Content-Type", rule.content_type or ctype)
        for name, value in (*site.headers, *rule.headers):
            self.send_header(name, value)
        if rule.redirect is not None:
            self.send_header("Location", self._expand(rule.redirect))
        if rule.chunked is not None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not send_body:
            return
        if rule.chunked is None:
            self.wfile.write(body)
            return
        step = rule.chunked.chunk_size
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            self.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
            if self.server.stopping.wait(rule.chunked.interval):
                self.close_connection = True
                return
        self.wfile.write(b"0\r\n\r\n")

    def _body(self, site: SiteConfig, rule: Rule, path: str) -> tuple[int, bytes, str]:
        if rule.body is not None:
            return rule.status or 200, rule.body.encode("utf-8"), "text/html; charset=utf-8"
        if rule.generate is not None:
            body, ctype = generate_body(site, rule.generate)
            return rule.status or 200, body, ctype
        target = site.root / rule.file if rule.file else self._resolve(site, path)
        if target is None:
            page = site.root / "404.html"
            body = page.read_bytes() if page.is_file() else b"<h1>404 Not Found</h1>"
            return rule.status or 404, body, "text/html; charset=utf-8"
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/json", "application/javascript"):
            ctype += "; charset=utf-8"
        return rule.status or 200, target.read_bytes(), ctype

    @staticmethod
    def _resolve(site: SiteConfig, path: str) -> Path | None:
        root = site.root.resolve()
        candidate = (root / path.lstrip("/")).resolve()
        if candidate != root and root not in candidate.parents:
            return None  # traversal attempt
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file() or candidate.name == SIDECAR:
            return None
        return candidate

    def _expand(self, location: str) -> str:
        for name, base in self.server.base_urls.items():
            location = location.replace("{site:" + name + "}", base.rstrip("/"))
        return location


class SiteServer:
    """All sites of a corpus, each on its own 127.0.0.1 port. Use ``serve_sites`` to start."""

    def __init__(self, sites: Mapping[str, SiteConfig]) -> None:
        self._stopping = threading.Event()
        self._servers = {name: _SiteHTTPServer(cfg, self._stopping) for name, cfg in sites.items()}
        self.base_urls: dict[str, str] = {
            name: f"http://127.0.0.1:{srv.server_address[1]}/"
            for name, srv in self._servers.items()
        }
        for srv in self._servers.values():
            srv.base_urls = self.base_urls
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        state = "stopped" if self._stopping.is_set() else f"{len(self._threads)} running"
        return f"<SiteServer {len(self._servers)} sites, {state}>"

    @property
    def sites(self) -> list[str]:
        return sorted(self._servers)

    def url_for(self, site: str, path: str = "/") -> str:
        """Absolute URL of ``path`` on ``site``; an unknown site is a ``KeyError`` naming it."""
        if site not in self.base_urls:
            raise KeyError(f"unknown site {site!r}; served: {', '.join(self.sites)}")
        return self.base_urls[site].rstrip("/") + "/" + path.lstrip("/")

    def start(self) -> None:
        for name, srv in self._servers.items():
            thread = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"siteserver-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Stop accepting, wake delayed/trickling handlers, release every port."""
        self._stopping.set()
        if self._threads:
            # shutdown() blocks until that server's loop notices; stop all loops at once.
            stoppers = [threading.Thread(target=srv.shutdown) for srv in self._servers.values()]
            for stopper in stoppers:
                stopper.start()
            for stopper in stoppers:
                stopper.join()
        for srv in self._servers.values():
            srv.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()


@contextmanager
def serve_sites(sites_dir: Path | Sequence[Path]) -> Iterator[SiteServer]:
    """Serve every site under ``sites_dir`` (or several ``sites/`` dirs) until the block exits."""
    dirs = [sites_dir] if isinstance(sites_dir, Path) else list(sites_dir)
    server = SiteServer(discover_sites(dirs))
    try:
        server.start()
        yield server
    finally:
        server.close()
