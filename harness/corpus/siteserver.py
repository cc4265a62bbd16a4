"""Serve the corpus's static sites on 127.0.0.1, one listening port (one origin) per site.

Each ``fixtures/sites/<site>/`` directory is served by its own ``ThreadingHTTPServer`` so
that a same-site crawl stays inside one site and a cross-site link or redirect really leaves
the origin. Per-path response rules live in the site's ``site.yaml`` sidecar; every key is
documented in ``fixtures/README.md`` and an unknown key is a ``SiteConfigError``.

The server never writes to stdout: in stdout mode the audited child's stdout *is* the event
channel, and the harness may run this server in the same process as such a reader.
"""

from __future__ import annotations

import fnmatch
import mimetypes
import random
import secrets
import struct
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import yaml

SIDECAR: Final = "site.yaml"
SITE_KEYS: Final = frozenset({"description", "headers", "rules"})
RULE_KEYS: Final = frozenset(
    {"match", "status", "headers", "redirect", "delay", "content_type", "chunked"}
    | {"file", "body", "generate", "dynamic"}
)
GENERATE_KINDS: Final = {
    "repeat": frozenset({"kind", "template", "fragment", "count"}),
    "png": frozenset({"kind", "width", "height", "seed"}),
    "bytes": frozenset({"kind", "size", "seed"}),
}
DYNAMIC_TOKENS: Final = frozenset({"random", "now"})


class SiteConfigError(ValueError):
    """A site directory or its ``site.yaml`` sidecar is invalid (names file, rule and key)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file strictly (duplicate keys are errors). Raises ``yaml.YAMLError``."""
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe


def yaml_problem(exc: BaseException) -> str:
    """A YAML (or I/O) error on one line: what is wrong and where."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return " ".join(filter(None, [exc.context, exc.problem])) + where
    return " ".join(str(exc).split())


@dataclass(frozen=True)
class Chunking:
    """How a chunked body is trickled: ``chunk_size`` bytes every ``interval`` seconds."""

    chunk_size: int = 256
    interval: float = 0.05


@dataclass(frozen=True)
class Rule:
    """One response rule from a sidecar; ``match`` is an exact path or an fnmatch glob."""

    match: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    redirect: str | None = None
    delay: float = 0.0
    content_type: str | None = None
    chunked: Chunking | None = None
    file: str | None = None
    body: str | None = None
    generate: Mapping[str, Any] | None = None
    dynamic: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        if any(ch in self.match for ch in "*?["):
            return fnmatch.fnmatchcase(path, self.match)
        return path == self.match


@dataclass(frozen=True)
class SiteConfig:
    """A parsed site: its directory, headers sent on every response, and its rules in order."""

    name: str
    root: Path
    headers: tuple[tuple[str, str], ...] = ()
    rules: tuple[Rule, ...] = ()

    def rule_for(self, path: str) -> Rule | None:
        """The first rule whose ``match`` accepts ``path`` (query string excluded)."""
        return next((rule for rule in self.rules if rule.matches(path)), None)


def _fail(where: str, what: str) -> SiteConfigError:
    return SiteConfigError(f"{where}: {what}")


def _parse_headers(where: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise _fail(where, f"'headers' must be a list of {{name, value}} mappings, got {raw!r}")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and set(item) == {"name", "value"}):
            raise _fail(where, f"headers[{i}] must be a mapping with exactly 'name' and 'value'")
        name, value = item["name"], item["value"]
        if not isinstance(name, str) or not name or any(c in name for c in " :\r\n"):
            raise _fail(where, f"headers[{i}].name {name!r} is not a valid header name")
        if not isinstance(value, str | int) or any(c in str(value) for c in "\r\n"):
            raise _fail(where, f"headers[{i}].value for {name!r} must be a one-line string")
        out.append((name, str(value)))
    return tuple(out)


def _number(where: str, key: str, value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"'{key}' must be a number, got {value!r}")
    if not minimum <= value <= maximum:
        raise _fail(where, f"'{key}' is {value!r}; accepted: {minimum}..{maximum}")
    return float(value)


def _parse_generate(where: str, raw: Any, root: Path) -> Mapping[str, Any]:
    kinds = ", ".join(sorted(GENERATE_KINDS))
    if not isinstance(raw, dict) or raw.get("kind") not in GENERATE_KINDS:
        raise _fail(where, f"'generate' needs a 'kind'; accepted kinds: {kinds}")
    allowed = GENERATE_KINDS[raw["kind"]]
    if unknown := sorted(set(raw) - allowed):
        accepted = ", ".join(sorted(allowed))
        raise _fail(where, f"generate: unknown key(s) {unknown}; accepted: {accepted}")
    for key in sorted(allowed - {"kind", "seed"}):
        if key not in raw:
            raise _fail(where, f"generate kind {raw['kind']!r} requires '{key}'")
    for key in ("count", "width", "height", "size", "seed"):
        if key in raw:
            _number(where, f"generate.{key}", raw[key], minimum=0, maximum=64 * 1024 * 1024)
    for key in ("template", "fragment"):
        if key in raw and not (root / str(raw[key])).is_file():
            raise _fail(where, f"generate.{key}: file {raw[key]!r} not found in {root}")
    return dict(raw)


def _parse_rule(where: str, raw: Any, root: Path) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(where, f"a rule must be a mapping, got {raw!r}")
    if unknown := sorted(set(raw) - RULE_KEYS):
        raise _fail(where, f"unknown key(s) {unknown}; accepted: {', '.join(sorted(RULE_KEYS))}")
    match = raw.get("match")
    if not isinstance(match, str) or not match.startswith("/"):
        raise _fail(where, f"'match' must be a path or glob starting with '/', got {match!r}")
    kw: dict[str, Any] = {"match": match}
    if "status" in raw:
        status = raw["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise _fail(where, f"'status' is {status!r}; accepted: an integer 100..599")
        kw["status"] = status
    if "headers" in raw:
        kw["headers"] = _parse_headers(where, raw["headers"])
    if "redirect" in raw:
        if not isinstance(raw["redirect"], str) or not raw["redirect"]:
            raise _fail(where, "'redirect' must be a non-empty URL or path string")
        kw["redirect"] = raw["redirect"]
    if "delay" in raw:
        kw["delay"] = _number(where, "delay", raw["delay"], minimum=0, maximum=600)
    for key in ("content_type", "body", "file"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise _fail(where, f"'{key}' must be a string, got {raw[key]!r}")
            kw[key] = raw[key]
    if "file" in raw and not (root / raw["file"]).is_file():
        raise _fail(where, f"'file': {raw['file']!r} not found in {root}")
    chunked = raw.get("chunked")
    if chunked is True:
        kw["chunked"] = Chunking()
    elif isinstance(chunked, dict) and set(chunked) <= {"chunk_size", "interval"}:
        size = chunked.get("chunk_size", 256)
        gap = _number(
            where, "chunked.interval", chunked.get("interval", 0.05), minimum=0, maximum=60
        )
        kw["chunked"] = Chunking(
            int(_number(where, "chunked.chunk_size", size, minimum=1, maximum=1 << 20)), gap
        )
    elif chunked not in (None, False):
        raise _fail(where, "'chunked' must be true or a mapping of chunk_size/interval")
    if "generate" in raw:
        kw["generate"] = _parse_generate(where, raw["generate"], root)
    if "dynamic" in raw:
        dyn = raw["dynamic"]
        if not isinstance(dyn, list) or not dyn or not set(dyn) <= DYNAMIC_TOKENS:
            raise _fail(where, f"'dynamic' must be a list of: {', '.join(sorted(DYNAMIC_TOKENS))}")
        kw["dynamic"] = tuple(dyn)
    if sum(k in raw for k in ("file", "body", "generate")) > 1:
        raise _fail(where, "use at most one of 'file', 'body', 'generate'")
    return Rule(**kw)


def load_site_config(root: Path) -> SiteConfig:
    """Read and validate ``root/site.yaml`` (a site without a sidecar has no rules)."""
    sidecar = root / SIDECAR
    if not sidecar.is_file():
        return SiteConfig(name=root.name, root=root)
    try:
        raw = load_yaml(sidecar)
    except yaml.YAMLError as exc:
        raise _fail(str(sidecar), f"not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(str(sidecar), "must be a mapping with keys: " + ", ".join(sorted(SITE_KEYS)))
    if unknown := sorted(set(raw) - SITE_KEYS):
        accepted = ", ".join(sorted(SITE_KEYS))
        raise _fail(str(sidecar), f"unknown key(s) {unknown}; accepted: {accepted}")
    headers = _parse_headers(f"{sidecar}: headers", raw.get("headers", []))
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise _fail(str(sidecar), "'rules' must be a list of rule mappings")
    rules = tuple(
        _parse_rule(f"{sidecar}: rules[{i}]", item, root) for i, item in enumerate(rules_raw)
    )
    return SiteConfig(name=root.name, root=root, headers=headers, rules=rules)


def discover_sites(sites_dirs: Sequence[Path]) -> dict[str, SiteConfig]:
    """Every site under the given ``sites/`` directories; a name found twice is an error."""
    sites: dict[str, SiteConfig] = {}
    for sites_dir in sites_dirs:
        if not sites_dir.is_dir():
            raise SiteConfigError(f"{sites_dir}: sites directory does not exist")
        for root in sorted(p for p in sites_dir.iterdir() if p.is_dir()):
            if root.name in sites:
                raise SiteConfigError(
                    f"{root}: site name {root.name!r} already defined in {sites[root.name].root}"
                )
            sites[root.name] = load_site_config(root)
    return sites


# --- generated bodies -------------------------------------------------------------------


def _png(width: int, height: int, seed: int) -> bytes:
    """A valid RGB PNG with a deterministic diagonal gradient (stdlib only)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(((x * 4 + seed) % 256, (y * 4 + seed) % 256, ((x + y) * 2) % 256))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


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
