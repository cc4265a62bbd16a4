"""Exact-match comparison: a canonical digest first, a structural diff only on a mismatch.

``canonical_digest`` hashes canonical JSON (sorted keys, ASCII, no whitespace), so equal
values always give equal digests. ``first_difference`` runs only when two digests differ: it
finds the first diverging event by per-event digests and asks deepdiff for the field paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

#: How many deepdiff calls this process has made (the benchmark asserts none on a match).
DEEPDIFF_CALLS = 0


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False
    ).encode("ascii")


def canonical_digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


@dataclass
class Difference:
    """The first place where two event streams diverge."""

    index: int
    type: str | None
    phase: str | None
    paths: list[dict[str, Any]] = field(default_factory=list)
    lengths: tuple[int, int] = (0, 0)

    def describe(self) -> str:
        where = f"event #{self.index} ({self.type or '?'}, phase {self.phase or '?'})"
        lines = [
            f"first divergence at {where}; streams of {self.lengths[0]} and {self.lengths[1]} events"
        ]
        for p in self.paths[:5]:
            lines.append(
                f"{p['path']}: {p['change']}: {_short(p.get('left'))} != {_short(p.get('right'))}"
            )
        if len(self.paths) > 5:
            lines.append(f"… and {len(self.paths) - 5} more paths")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "phase": self.phase,
            "paths": self.paths,
            "lengths": list(self.lengths),
        }


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any, limit: int = 2000) -> Any:
    """A value fit for a report: JSON-able, and long strings cut to *limit* characters."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"
    try:
        text = canonical_json(value)
    except (TypeError, ValueError):
        return _jsonable(repr(value), limit)
    return value if len(text) <= limit else _jsonable(text.decode("ascii"), limit)


def first_difference(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> Difference | None:
    """Where *left* and *right* (normalized event lists) first differ; None if they are equal."""
    global DEEPDIFF_CALLS
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else None
        b = right[index] if index < len(right) else None
        if a is not None and b is not None and canonical_digest(a) == canonical_digest(b):
            continue
        ref = a if a is not None else b
        assert ref is not None
        diff = Difference(index, ref.get("type"), ref.get("phase"), lengths=(len(left), len(right)))
        if a is None or b is None:
            side = "left" if a is None else "right"
            diff.paths.append(
                {
                    "path": f"events[{index}]",
                    "change": f"missing on the {side}",
                    "left": _jsonable(a),
                    "right": _jsonable(b),
                }
            )
            return diff
        DEEPDIFF_CALLS += 1
        dd = DeepDiff(a, b, verbose_level=2, view="tree")
        for change, items in sorted(dd.items()):
            for item in items:
                path = item.path(root=f"events[{index}]")
                diff.paths.append(
                    {
                        "path": path,
                        "change": change,
                        "left": _jsonable(item.t1),
                        "right": _jsonable(item.t2),
                    }
                )
        diff.paths.sort(key=lambda p: p["path"])
        return diff
    return None
