"""Checking ``POST /api/audit/start``: every refusal names the field, the value and what is
accepted, and becomes a 422 with that one message (never a traceback)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from veritas.parent.mode import Mode
from veritas.protocol.event import TIERS

IPC_VALUES = ("queue", "stdout")
WEB_SCHEMES = ("http", "https")
LOCAL_SCHEMES = ("file", "synthetic")  # only with --allow-file-urls
MAX_URL_LENGTH = 8192


class InputError(ValueError):
    """A refused request: *field*, *value* and the *accepted* values, in one message."""

    def __init__(self, field: str, value: Any, accepted: str, message: str | None = None) -> None:
        shown = value if isinstance(value, str) and len(value) <= 200 else repr(value)[:200]
        super().__init__(message or f"{field} {shown!r} is invalid; accepted: {accepted}")
        self.field = field
        self.value = shown
        self.accepted = accepted

    def to_json(self) -> dict[str, Any]:
        return {"detail": str(self), "field": self.field, "value": self.value,
                "accepted": self.accepted}  # fmt: skip


@dataclass(frozen=True)
class StartRequest:
    url: str
    tier: str
    ipc: Mode | None


def parse_start(body: bytes, *, allow_file_urls: bool) -> StartRequest:
    """The start request in *body*; InputError for anything else."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            "body",
            body[:80].decode("utf-8", "replace"),
            'a JSON object {"url", "tier", "ipc"?}',
            f"the request body is not JSON ({exc}); accepted: a JSON object "
            '{"url": ..., "tier": ..., "ipc": ...}',
        ) from None
    if not isinstance(obj, dict):
        raise InputError("body", obj, 'a JSON object {"url", "tier", "ipc"?}',
                         'the request body is not a JSON object; accepted: {"url": ..., '
                         '"tier": ..., "ipc": ...}')  # fmt: skip
    unknown = sorted(set(obj) - {"url", "tier", "ipc"})
    if unknown:
        raise InputError("body", unknown[0], "url, tier, ipc",
                         f"field {unknown[0]!r} is unknown; accepted: url, tier, ipc")  # fmt: skip
    schemes = WEB_SCHEMES + (LOCAL_SCHEMES if allow_file_urls else ())
    url = obj.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InputError("url", url, f"a URL with scheme {', '.join(schemes)}",
                         f"url is required (got {url!r}); accepted: a URL with scheme "
                         f"{', '.join(schemes)}")  # fmt: skip
    if len(url) > MAX_URL_LENGTH:
        raise InputError("url", url, f"at most {MAX_URL_LENGTH} characters")
    scheme = urlsplit(url).scheme.lower()
    if scheme in LOCAL_SCHEMES and not allow_file_urls:
        raise InputError("url", url, ", ".join(WEB_SCHEMES),
                         f"url {url[:200]!r}: {scheme} URLs are refused by this server (it "
                         "audits only what a browser could fetch; `veritas serve "
                         "--allow-file-urls` admits them, for tests); accepted: "
                         f"{', '.join(WEB_SCHEMES)}")  # fmt: skip
    if scheme not in schemes:
        raise InputError("url", url, ", ".join(schemes),
                         f"url {url[:200]!r}: scheme {scheme or '(none)'!r} is not supported; "
                         f"accepted: {', '.join(schemes)}")  # fmt: skip
    if scheme in WEB_SCHEMES and not urlsplit(url).hostname:
        raise InputError("url", url, "a URL with a host name")
    tier = obj.get("tier", "quick_scan")
    if tier not in TIERS:
        raise InputError("tier", tier, ", ".join(TIERS))
    ipc = obj.get("ipc")
    if ipc is not None and ipc not in IPC_VALUES:
        raise InputError("ipc", ipc, f"{', '.join(IPC_VALUES)} or absent (rollout decides)")
    return StartRequest(url=url, tier=tier, ipc=ipc)
