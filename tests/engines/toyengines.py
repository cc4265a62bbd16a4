"""Engines for the tests of engines from outside: importable in the audit child through
``PYTHONPATH`` (this directory), written against the engine contract alone."""

from __future__ import annotations

import asyncio
import random
from typing import Any

NOT_CALLABLE = 42


def plain(url: str, tier: str, emit: Any) -> None:
    """A well-behaved engine with phases of its own."""
    emit("audit_start", "warm_up", detail=f"toy {url} {tier}", summary={"url": url})
    emit("phase_start", "count_words", pct=10.0)
    emit("finding", "count_words", step="toy", pct=50.0, detail="a finding", summary={"n": 1})
    emit("phase_complete", "count_words", pct=90.0, summary={"words": 3})
    emit("audit_complete", "done", pct=100.0, summary={"url": url, "tier": tier, "score": 7})


async def asynchronous(url: str, tier: str, emit: Any) -> None:
    """An ``async def`` engine: run under ``asyncio.run`` in the child."""
    emit("audit_start", "warm_up", summary={"url": url})
    await asyncio.sleep(0.01)
    emit(
        "log",
        "waiting",
        detail="slept",
        summary={"loop": type(asyncio.get_running_loop()).__name__},
    )
    emit("audit_complete", "done", pct=100.0, summary={"async": True})


def raises(url: str, tier: str, emit: Any) -> None:
    """Raises in the middle of the audit."""
    emit("audit_start", "warm_up")
    emit("phase_start", "boom")
    raise RuntimeError("the engine broke")


def raises_at_once(url: str, tier: str, emit: Any) -> None:
    """Raises before emitting anything."""
    raise LookupError("nothing emitted yet")


def no_end(url: str, tier: str, emit: Any) -> None:
    """Returns without audit_complete or audit_error."""
    emit("audit_start", "warm_up")
    emit("log", "warm_up", detail="and then nothing")


def finding_first(url: str, tier: str, emit: Any) -> None:
    """Breaks the protocol: a finding before audit_start."""
    emit("finding", "warm_up", summary={"n": 1})


def after_the_end(url: str, tier: str, emit: Any) -> None:
    """Breaks the protocol: an event after audit_complete."""
    emit("audit_start", "warm_up")
    emit("audit_complete", "done", pct=100.0)
    emit("log", "done", detail="one more")


def bad_phase(url: str, tier: str, emit: Any) -> None:
    """Breaks the protocol: a phase that is not an identifier."""
    emit("audit_start", "Warm-Up")


def nondeterministic(url: str, tier: str, emit: Any) -> None:
    """Its final state holds a random draw: a different audit on every run."""
    emit("audit_start", "warm_up")
    emit("audit_complete", "done", pct=100.0, summary={"url": url, "draw": random.random()})


def with_timeout(url: str, tier: str, emit: Any, *, request_timeout: float = 0.0) -> None:
    """Accepts the optional ``request_timeout`` keyword and reports what it was given."""
    emit("audit_start", "warm_up")
    emit("audit_complete", "done", pct=100.0, summary={"request_timeout": request_timeout})


def two_arguments(url: str, tier: str) -> None:
    """Cannot be called with an emit."""


def split_surrogates(url: str, tier: str, emit: Any) -> None:
    """Strings a UTF-8 text frame cannot carry as such: a high and a low surrogate as two code
    points (beside the astral character they spell), a lone one, in values and in keys."""
    split, astral = "\ud83d\ude00", "\U0001f600"
    emit("audit_start", "warm_up", detail=f"{split}|{astral}", summary={"url": url})
    emit("log", "titles", detail="lone \udc00 half", summary={f"k{split}": [split, astral]})
    emit("audit_complete", "done", pct=100.0, summary={"title": f"{astral}{split}"})
