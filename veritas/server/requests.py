"""Checking ``POST /api/audit/start``: every refusal names the field, the value and what is
accepted, and becomes a 422 with that one message (never a traceback)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from veritas.child.faults import ENV as FAULT_ENV
from veritas.child.faults import FaultSpecError, parse_fault
from veritas.parent.mode import Mode
from veritas.protocol.event import TIERS

IPC_VALUES = ("queue", "stdout")
WEB_SCHEMES = ("http", "https")
LOCAL_SCHEMES = ("file", "synthetic")  # only with --allow-file-urls
MAX_URL_LENGTH = 8192
FIELDS = ("url", "tier", "ipc")
#: Admitted only by a server started with ``--allow-file-urls`` (tests): they let a validation
#: run an audit as the command line does (one audit id for every run of a case, a fault in one
#: audit's child, its own time limits).
TEST_FIELDS = ("audit_id", "fault", "request_timeout", "timeout")
_AUDIT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


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
    #: the id the audit's child and its events carry (default: the backend's own audit id)
    audit_id: str | None = None
    #: a ``VERITAS_IPC_FAULT`` value for this audit's child only
    fault: str | None = None
    request_timeout: float | None = None
    timeout: float | None = None


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
    known = FIELDS + (TEST_FIELDS if allow_file_urls else ())
    unknown = sorted(set(obj) - set(known))
    if unknown:
        field = unknown[0]
        if field in TEST_FIELDS:
            raise InputError(field, obj[field], ", ".join(known),
                             f"field {field!r} is test-only: a server started with "
                             "`veritas serve --allow-file-urls` admits it; accepted: "
                             f"{', '.join(known)}")  # fmt: skip
        raise InputError("body", field, ", ".join(known),
                         f"field {field!r} is unknown; accepted: {', '.join(known)}")  # fmt: skip
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
    return StartRequest(url=url, tier=tier, ipc=ipc, **_test_fields(obj))


def _test_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The test-only fields present in *obj* (already admitted), checked."""
    out: dict[str, Any] = {}
    audit_id = obj.get("audit_id")
    if audit_id is not None:
        if not isinstance(audit_id, str) or not _AUDIT_ID.fullmatch(audit_id):
            raise InputError("audit_id", audit_id,
                             "1 to 128 of A-Z a-z 0-9 . _ : - (not first: . _ : -)")  # fmt: skip
        out["audit_id"] = audit_id
    fault = obj.get("fault")
    if fault is not None:
        try:
            if not isinstance(fault, str) or parse_fault(fault) is None:
                raise FaultSpecError(f"{FAULT_ENV}={fault!r} is empty")
        except FaultSpecError as exc:
            raise InputError("fault", fault, f"a {FAULT_ENV} value",
                             f"fault {str(fault)[:80]!r} is invalid: {exc}") from None  # fmt: skip
        out["fault"] = fault
    for name in ("request_timeout", "timeout"):
        value = obj.get(name)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value > 0)
        ):
            raise InputError(name, value, "seconds > 0 (a number)")
        out[name] = float(value)
    return out
