"""An observation: what one run of one case delivered, as plain data (docs/architecture.md, step 8).

Events become plain dicts; screenshot bytes are replaced by their pixel digest (other binary
data by a SHA-256 of its bytes). The PNG bytes themselves are kept aside, only so that a
mismatch can be shown as a diff image; they never enter a digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from veritas.pixels import ImageDecodeError, pixel_digest
from veritas.protocol.event import ProgressEvent


@dataclass
class Observation:
    events: list[dict[str, Any]]
    final_state: dict[str, Any] | None
    screenshots: dict[str, str]
    outcome: dict[str, Any]
    images: dict[str, bytes] = field(default_factory=dict, repr=False)
    digest_seconds: float = 0.0

    @property
    def attested_transport(self) -> str:
        return str(self.outcome["attested_transport"])

    @property
    def state(self) -> str:
        return str(self.outcome["state"])


def screenshot_label(event: ProgressEvent) -> str:
    label = event.summary.get("label") if isinstance(event.summary, dict) else None
    return str(label) if label else f"seq-{event.seq}"


#: sha256 of PNG bytes -> pixel digest. The runs of one case usually carry byte-identical
#: screenshots; decoding each once is most of what observing a run costs. Keys are digests,
#: so the cache holds no image bytes.
_PIXEL_DIGESTS: dict[str, str] = {}
_PIXEL_CACHE_MAX = 4096


def cached_pixel_digest(data: bytes) -> str:
    key = hashlib.sha256(data).hexdigest()
    digest = _PIXEL_DIGESTS.get(key)
    if digest is None:
        digest = pixel_digest(data)  # ImageDecodeError is not cached: it stays cheap to retry
        if len(_PIXEL_DIGESTS) >= _PIXEL_CACHE_MAX:
            _PIXEL_DIGESTS.clear()
        _PIXEL_DIGESTS[key] = digest
    return digest


def event_record(event: ProgressEvent) -> dict[str, Any]:
    """The event as a dict, its ``data`` replaced by a digest."""
    data: dict[str, Any] | None = None
    if event.data is not None:
        if event.type == "screenshot":
            try:
                data = {"pixel_digest": cached_pixel_digest(event.data)}
            except ImageDecodeError as exc:
                data = {
                    "undecodable_image": hashlib.sha256(event.data).hexdigest(),
                    "error": str(exc),
                }
        else:
            data = {"sha256": hashlib.sha256(event.data).hexdigest()}
    return {**event.as_dict(), "data": data}


class OutcomeRecord(Protocol):
    """What ``observe`` reads of a run's outcome: an ``AuditOutcome``, or the outcome a
    WebSocket client received (``veritas.server.frames.ReceivedOutcome``)."""

    @property
    def final_state(self) -> dict[str, Any] | None: ...

    def to_dict(self) -> dict[str, Any]: ...


def observe(outcome: OutcomeRecord, events: list[ProgressEvent]) -> Observation:
    import time

    started = time.perf_counter()
    records = [event_record(e) for e in events]
    screenshots: dict[str, str] = {}
    images: dict[str, bytes] = {}
    for event, record in zip(events, records, strict=True):
        if event.type == "screenshot" and event.data is not None:
            label = screenshot_label(event)
            screenshots[label] = str(
                (record["data"] or {}).get("pixel_digest")
                or (record["data"] or {}).get("undecodable_image")
            )
            images[label] = event.data
    return Observation(
        events=records,
        final_state=outcome.final_state,
        screenshots=screenshots,
        outcome=outcome.to_dict(),
        images=images,
        digest_seconds=time.perf_counter() - started,
    )
