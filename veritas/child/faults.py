"""Test-only fault injection into the child's Queue path (``VERITAS_IPC_FAULT``).

Never set this in production: it exists so that tests and ``harness selftest`` can prove
that failover loses nothing and that the harness catches a faulty transport. Only events
sent over the Queue are touched; stdout mode ignores it. Accepted values (K counts events
sent over the Queue from 0; for ``pixel`` and ``truncate`` it counts events carrying data):

  connect        the child cannot reach the Queue (it fails over before the first event)
  sever@K        the Queue connection is cut after K events
  drop@K         event K is never sent
  dup@K          event K is sent twice
  swap@K         events K and K+1 are sent in the wrong order
  char@K         one character of event K's text changes
  pixel@K        one pixel of the K-th screenshot changes
  truncate@K     the K-th event with data loses the second half of it
  split@K        from event K on, every character above U+FFFF in the event's text (step,
                 detail, summary keys and values) becomes its two UTF-16 surrogate halves
  delay@MS       every event waits MS milliseconds before it is sent
  crash@K        the child dies (exit 70) when event K is due
  hang@K         the child stops forever when event K is due
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from dataclasses import dataclass
from typing import Any

from veritas.protocol.event import ProgressEvent

ENV = "VERITAS_IPC_FAULT"
KINDS = (
    "connect",
    "sever",
    "drop",
    "dup",
    "swap",
    "char",
    "pixel",
    "truncate",
    "split",
    "delay",
    "crash",
    "hang",
)


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str
    k: int = 0


def parse_fault(raw: str | None) -> Fault | None:
    if raw is None or raw.strip() == "":
        return None
    kind, _, arg = raw.strip().partition("@")
    if kind not in KINDS:
        raise FaultSpecError(
            f"{ENV}={raw!r} unknown; accepted: connect, or K@N with K one of "
            f"{', '.join(KINDS[1:])} (e.g. sever@10)"
        )
    if kind == "connect":
        return Fault(kind)
    try:
        k = int(arg)
    except ValueError:
        raise FaultSpecError(f"{ENV}={raw!r}: N must be an integer (e.g. {kind}@10)") from None
    if k < 0:
        raise FaultSpecError(f"{ENV}={raw!r}: N must be >= 0")
    return Fault(kind, k)


def fault_from_env() -> Fault | None:
    return parse_fault(os.environ.get(ENV))


def _one_pixel_changed(png: bytes) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    rgba = image.convert("RGBA")
    r, g, b, a = rgba.getpixel((0, 0))  # type: ignore[misc]
    rgba.putpixel((0, 0), ((r + 1) % 256, g, b, a))
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


def _utf16_halves(text: str) -> str:
    """*text* with each astral character written as two code points, its surrogate halves.

    This is what a transport that cut strings into UTF-16 code units and never joined them
    again would deliver: the same text to a reader that thinks in UTF-16, not to one that
    compares code points.
    """
    if not text or max(text) <= "\uffff":
        return text
    out = []
    for char in text:
        point = ord(char) - 0x10000
        if point < 0:
            out.append(char)
        else:
            out.append(chr(0xD800 + (point >> 10)) + chr(0xDC00 + (point & 0x3FF)))
    return "".join(out)


def _split_astral(value: Any) -> Any:
    """*value* (JSON-able) with _utf16_halves applied to every string in it, keys included."""
    if isinstance(value, str):
        return _utf16_halves(value)
    if isinstance(value, dict):
        return {_split_astral(key): _split_astral(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_split_astral(item) for item in value)
    return value


class FaultInjector:
    """Rewrites the stream of events the Queue sends (everything but connect and sever)."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.index = 0  # events seen so far
        self.with_data = 0  # events with data seen so far
        self.held: ProgressEvent | None = None

    def apply(self, batch: list[ProgressEvent]) -> list[ProgressEvent]:
        kind, k = self.fault.kind, self.fault.k
        if kind == "delay":
            time.sleep(k / 1000)
            return batch
        out: list[ProgressEvent] = []
        for event in batch:
            i = self.index
            self.index += 1
            nth_data = self.with_data if event.data is not None else -1
            if event.data is not None:
                self.with_data += 1
            if i == k and kind == "crash":
                os._exit(70)
            if i == k and kind == "hang":
                while True:
                    time.sleep(3600)
            if i == k and kind == "drop":
                continue
            if i == k and kind == "swap":
                self.held = event
                continue
            if i == k and kind == "char":
                text = event.detail or event.step
                changed = (chr(ord(text[0]) ^ 1) + text[1:]) if text else "!"
                event = (
                    dataclasses.replace(event, detail=changed)
                    if event.detail or not event.step
                    else dataclasses.replace(event, step=changed)
                )
            if nth_data == k and kind == "pixel" and event.type == "screenshot" and event.data:
                event = dataclasses.replace(event, data=_one_pixel_changed(event.data))
            if i >= k and kind == "split":
                event = dataclasses.replace(
                    event,
                    step=_utf16_halves(event.step),
                    detail=_utf16_halves(event.detail),
                    summary=_split_astral(event.summary),
                )
            if nth_data == k and kind == "truncate" and event.data:
                event = dataclasses.replace(event, data=event.data[: len(event.data) // 2])
            out.append(event)
            if i == k and kind == "dup":
                out.append(event)
            if self.held is not None and i == k + 1:
                out.append(self.held)
                self.held = None
        return out
