"""Fetching one URL (http, https, file) with redirects, a deadline and a size cap.

Only the standard library: ``http.client`` rather than ``urllib.request`` because every
redirect hop must be seen (its status, its cookies, where it points) and because environment
proxies must not change what an audit sees.

What is kept of a response is chosen for determinism: only the headers the audit reads are
recorded (``Date``, ``Age``, ``ETag`` and the like change between two fetches of the same site),
and cookie values are never recorded (session ids are random and may be secrets).
"""

from __future__ import annotations

import email.message
import http.client
import http.cookiejar
import mimetypes
import os
import re
import socket
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 10
USER_AGENT = "VeritasAudit/0.1 (rule-based website auditor)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SUPPORTED_SCHEMES = ("http", "https", "file")

#: Response headers recorded on a page (lower-cased); everything else is dropped.
RECORDED_HEADERS = (
    "content-type",
    "content-security-policy",
    "permissions-policy",
    "referrer-policy",
    "server",
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
)

#: The type of a file URL by its extension: the standard library's own table, not the
#: platform's (``/etc/mime.types`` and the Windows registry differ between machines), plus
#: XHTML, which that table lacks.
_FILE_TYPES = mimetypes.MimeTypes()
_FILE_TYPES.add_type("application/xhtml+xml", ".xhtml")


_SURROGATE = re.compile("[\ud800-\udfff]")


def usv_string(text: str) -> str:
    """*text* with every surrogate code point replaced by U+FFFD.

    Browsers convert a URL to a USVString before parsing it, replacing each lone surrogate by
    U+FFFD; the URL parser then percent-encodes its UTF-8 (``%EF%BF%BD``). A surrogate in a
    Python string is never half of a character, so each one is lone.
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


class FetchError(Exception):
    """A URL that could not be fetched; ``kind`` is a stable machine-readable name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class RedirectHop:
    url: str
    status: int
    location: str


@dataclass
class RawCookie:
    """One ``Set-Cookie`` header, parsed; the value is deliberately not kept."""

    name: str
    secure: bool
    httponly: bool
    samesite: str
    domain: str
    path: str
    persistent: bool
    set_by: str


@dataclass
class FetchResult:
    requested_url: str
    final_url: str
    status: int | None  # None for file URLs
    reason: str
    headers: dict[str, str]
    content_type: str
    charset: str
    body: bytes
    truncated: bool
    redirects: list[RedirectHop] = field(default_factory=list)
    cookies: list[RawCookie] = field(default_factory=list)
    tls_version: str = ""


def check_url(url: str) -> urllib.parse.SplitResult:
    """Parse *url* or raise FetchError(``malformed_url`` | ``unsupported_scheme``)."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("malformed_url", "the URL is empty")
    if any(ord(c) < 0x20 or c == "\x7f" for c in url) or " " in url.strip():
        raise FetchError("malformed_url", f"the URL {url!r} contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError("malformed_url", f"the URL {url!r} cannot be parsed: {exc}") from None
    if not parts.scheme:
        raise FetchError(
            "malformed_url", f"the URL {url!r} has no scheme (expected http, https, file)"
        )
    if parts.scheme not in SUPPORTED_SCHEMES:
        raise FetchError(
            "unsupported_scheme",
            f"the URL scheme {parts.scheme!r} is not supported (expected http, https, file)",
        )
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise FetchError("malformed_url", f"the URL {url!r} has no host")
        try:
            parts.hostname.encode("idna")
        except UnicodeError:
            raise FetchError("malformed_url", f"the host of {url!r} is not a valid name") from None
        if port == 0:
            raise FetchError("malformed_url", f"the URL {url!r} has port 0")
    elif parts.netloc not in ("", "localhost"):
        raise FetchError("malformed_url", f"the file URL {url!r} names a remote host")
    elif not parts.path:
        raise FetchError("malformed_url", f"the file URL {url!r} has no path")
    return parts


def fetch(url: str, *, timeout: float, max_bytes: int = MAX_BYTES) -> FetchResult:
    """Fetch *url*, following up to MAX_REDIRECTS redirects; raise FetchError on failure.

    *timeout* bounds the whole fetch (all hops, connect and body), not each socket operation,
    so a server that drips one byte a second cannot hold the audit.
    """
    deadline = time.monotonic() + timeout
    if isinstance(url, str):  # anything else is named by check_url
        # What is fetched, and so the final URL, is the URL as a browser would request it.
        url = usv_string(url)
    parts = check_url(url)
    if parts.scheme == "file":
        return _fetch_file(url, parts, max_bytes)
    hops: list[RedirectHop] = []
    cookies: list[RawCookie] = []
    seen = {_without_fragment(url)}
    current = url
    while True:
        result = _fetch_http(current, check_url(current), deadline, max_bytes, cookies)
        location = result.headers.get("location", "")
        if result.status not in REDIRECT_STATUSES or not location:
            result.requested_url = url
            result.redirects = hops
            result.cookies = cookies
            return result
        try:
            target = urllib.parse.urljoin(current, location.strip())
        except ValueError:
            raise FetchError("malformed_url", f"{current} redirects to an invalid URL") from None
        hops.append(RedirectHop(current, result.status or 0, target))
        target_parts = check_url(target)
        if target_parts.scheme == "file":
            raise FetchError("unsupported_scheme", f"{current} redirects to a file URL")
        if _without_fragment(target) in seen:
            raise FetchError(
                "redirect_loop", f"redirect loop: {target} was already visited ({len(hops)} hops)"
            )
        if len(hops) > MAX_REDIRECTS:
            raise FetchError(
                "too_many_redirects", f"more than {MAX_REDIRECTS} redirects from {url}"
            )
        seen.add(_without_fragment(target))
        current = target


def _without_fragment(url: str) -> str:
    return urllib.parse.urldefrag(url)[0]


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("timeout", f"timed out fetching {url}")
    return left


def _request_target(parts: urllib.parse.SplitResult) -> str:
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return path


def _fetch_http(
    url: str,
    parts: urllib.parse.SplitResult,
    deadline: float,
    max_bytes: int,
    cookies: list[RawCookie],
) -> FetchResult:
    host = parts.hostname or ""
    ascii_host = host.encode("idna").decode("ascii")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        conn = http.client.HTTPSConnection(
            ascii_host, parts.port, timeout=_remaining(deadline, url), context=context
        )
    else:
        conn = http.client.HTTPConnection(ascii_host, parts.port, timeout=_remaining(deadline, url))
    where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    try:
        conn.request(
            "GET",
            _request_target(parts),
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "identity",
                "Connection": "close",
            },
        )
        if conn.sock is not None:
            conn.sock.settimeout(_remaining(deadline, url))
        response = conn.getresponse()
        tls_version = ""
        if isinstance(conn.sock, ssl.SSLSocket):
            tls_version = conn.sock.version() or ""
        chunks: list[bytes] = []
        size = 0
        truncated = False
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(_remaining(deadline, url))
            chunk = response.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                truncated = True
                break
        body = b"".join(chunks)[:max_bytes]
        headers = {
            name: value
            for name in (*RECORDED_HEADERS, "location")
            if (value := response.getheader(name)) is not None
        }
        for raw in response.msg.get_all("Set-Cookie") or []:
            if (cookie := parse_set_cookie(raw, url)) is not None:
                cookies.append(cookie)
        content_type, charset = split_content_type(headers.get("content-type", ""))
        return FetchResult(
            requested_url=url,
            final_url=url,
            status=response.status,
            reason=response.reason,
            headers=headers,
            content_type=content_type or sniff_type(body),
            charset=charset,
            body=body,
            truncated=truncated,
            tls_version=tls_version,
        )
    except FetchError:
        raise
    except socket.gaierror:
        raise FetchError("unknown_host", f"the host {host!r} could not be resolved") from None
    except ConnectionRefusedError:
        raise FetchError("connection_refused", f"connection refused by {where}") from None
    except TimeoutError:
        raise FetchError("timeout", f"timed out fetching {url}") from None
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(
            "tls_error", f"TLS certificate of {where} is not valid: {exc.verify_message}"
        ) from None
    except ssl.SSLError as exc:
        raise FetchError("tls_error", f"TLS handshake with {where} failed: {exc.reason}") from None
    except http.client.HTTPException as exc:
        raise FetchError(
            "protocol_error", f"{where} sent an invalid HTTP response ({type(exc).__name__})"
        ) from None
    except OSError as exc:
        raise FetchError(
            "connection_error",
            f"connection to {where} failed: {exc.strerror or type(exc).__name__}",
        ) from None
    finally:
        conn.close()


def _fetch_file(url: str, parts: urllib.parse.SplitResult, max_bytes: int) -> FetchResult:
    path = urllib.request.url2pathname(urllib.parse.unquote(parts.path))
    if not os.path.exists(path):
        raise FetchError("not_found", f"no such file: {url}")
    if os.path.isdir(path):
        raise FetchError("not_a_file", f"{url} is a directory, not a page")
    try:
        with open(path, "rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FetchError("read_error", f"cannot read {url}: {exc.strerror}") from None
    truncated = len(body) > max_bytes
    body = body[:max_bytes]
    # A compressed file (``page.html.gz``) is not the type its inner extension names.
    guessed, compressed = _FILE_TYPES.guess_type(parts.path)
    content_type = guessed if guessed and not compressed else sniff_type(body)
    return FetchResult(
        requested_url=url,
        final_url=url,
        status=None,
        reason="",
        headers={},
        content_type=content_type,
        charset="",
        body=body,
        truncated=truncated,
    )


def split_content_type(value: str) -> tuple[str, str]:
    """``text/html; charset="UTF-8"`` -> (``text/html``, ``utf-8``); ("", "") when absent.

    ``email.message`` reads the header (quoting, RFC 2231 parameters); a type without exactly
    one ``/`` is ``text/plain``, as RFC 2045 says.
    """
    if not value.strip():
        return "", ""
    header = email.message.Message()
    header["content-type"] = value
    return header.get_content_type(), header.get_content_charset("") or ""


_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")


def looks_binary(body: bytes) -> bool:
    """True for bytes that are plainly not text, whatever the content type claims."""
    if body.startswith(_MAGIC):
        return True
    head = body[:4096]
    if not head:
        return False
    controls = sum(1 for b in head if b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B))
    return controls * 10 > len(head)


def sniff_type(body: bytes) -> str:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")):
        return "text/html"
    if looks_binary(body):
        return "application/octet-stream"
    return "text/plain"


def parse_set_cookie(header: str, set_by: str) -> RawCookie | None:
    """One ``Set-Cookie`` header, or None for one that names no cookie (``; Secure``).

    ``http.cookiejar`` splits it the way browsers do: the first ``name=value`` is the cookie,
    every later pair an attribute (the last of a kind wins), and an ``Expires`` that is not a
    date is dropped. (``http.cookies`` parses *Cookie* headers: it would read ``a=1; b=2`` as
    two cookies and drop a cookie whose value holds a space or a quote.)
    """
    # CookieJar's own parser of Set-Cookie headers; typeshed leaves it out (it is not in
    # __all__), but it has been there, unchanged in shape, since Python 2.4.
    parsed = http.cookiejar.parse_ns_headers([header])  # type: ignore[attr-defined]
    if not parsed:
        return None
    (name, _), *pairs = parsed[0]
    attrs: dict[str, str] = {}
    for key, value in pairs:
        if key.lower() != "expires" or value is not None:  # None: not a date
            attrs[key.lower()] = "" if value is None else str(value)
    return RawCookie(
        name=name,
        secure="secure" in attrs,
        httponly="httponly" in attrs,
        samesite=attrs.get("samesite", "").lower(),
        domain=attrs.get("domain", "").lower(),
        path=attrs.get("path", ""),
        persistent="expires" in attrs or attrs.get("max-age", "").lstrip("-").isdigit(),
        set_by=set_by,
    )
