"""Exact-match comparison: a canonical digest first, a structural diff only on a mismatch.

``canonical_digest`` hashes ``canonical_bytes``, an injective encoding of a value: two values
get the same digest if and only if they are equal as protocol values. Strings are compared by
code points (a lone surrogate, or a high and a low surrogate as two code points, is not
U+1F600); ``bool``, ``int`` and ``float`` are distinct types, floats are compared bit for bit
(``-0.0`` is not ``0.0``; every NaN is one value); ``bytes`` compare by value; a key whose value
is ``None`` is not a missing key; mapping order does not matter, list order does. Canonical
JSON could not be that: its ``\\uXXXX`` escapes write U+1F600 and the pair the same way, and it
writes a tuple as a list and an integer key as a string.

``first_difference`` runs only when two digests differ: it finds the first diverging event by
per-event digests and asks deepdiff for the field paths (and, where deepdiff sees two values
as equal that the digest does not, such as ``0.0`` and ``-0.0``, walks to the path itself).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

#: How many deepdiff calls this process has made (the benchmark asserts none on a match).
DEEPDIFF_CALLS = 0


def canonical_bytes(value: Any) -> bytes:
    """An injective byte form of *value*: tagged, length-prefixed, mapping keys sorted.

    Tags: ``N`` None, ``T``/``F`` bool, ``i`` int, ``f`` float (``float.hex``), ``s`` str
    (UTF-8 with surrogates passed through), ``b`` bytes, ``l`` list, ``t`` tuple, ``d`` dict.
    A string or bytes value is preceded by its byte length, a container by its item count,
    so no two values share an encoding. Anything else is a TypeError naming the type.
    """
    parts: list[bytes] = []
    _encode(value, parts)
    return b"".join(parts)


def _encode(value: Any, out: list[bytes]) -> None:
    # Checked most-frequent first; bool before int because bool is an int subclass.
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, dict):
        out.append(b"d%d:" % len(value))
        if all(type(k) is str for k in value):
            # Code point order is a total order on str keys, and the cheap common case.
            for key in sorted(value):
                _encode(key, out)
                _encode(value[key], out)
        else:
            for key, item in sorted(
                (canonical_bytes(k), canonical_bytes(v)) for k, v in value.items()
            ):
                out.append(key)
                out.append(item)
    elif value is None:
        out.append(b"N")
    elif isinstance(value, bool):
        out.append(b"T" if value else b"F")
    elif isinstance(value, int):
        out.append(b"i%d;" % value)
    elif isinstance(value, float):
        out.append(b"f" + value.hex().encode("ascii") + b";")
    elif isinstance(value, (list, tuple)):
        out.append(b"%s%d:" % (b"l" if isinstance(value, list) else b"t", len(value)))
        for item in value:
            _encode(item, out)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out.append(b"b%d:" % len(raw))
        out.append(raw)
    else:
        raise TypeError(f"cannot digest a value of type {type(value).__name__}: {value!r:.80}")


def canonical_digest(value: Any) -> str:
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def _json_size(value: Any) -> int:
    """Length of *value* as compact JSON; TypeError/ValueError if JSON cannot carry it."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False))


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
        size = _json_size(value)
    except (TypeError, ValueError):
        return _jsonable(repr(value), limit)
    if size <= limit:
        return value
    return _jsonable(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)


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
        if not diff.paths:  # deepdiff calls them equal; the digest does not (say, 0.0 and -0.0)
            diff.paths.extend(exact_paths(a, b, f"events[{index}]"))
        diff.paths.sort(key=lambda p: p["path"])
        return diff
    return None


def exact_paths(a: Any, b: Any, path: str) -> list[dict[str, Any]]:
    """The paths where *a* and *b* differ by the canonical digest's rules (at most 5)."""
    found: list[dict[str, Any]] = []

    def walk(x: Any, y: Any, where: str) -> None:
        if len(found) >= 5 or canonical_bytes(x) == canonical_bytes(y):
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=canonical_bytes):
                here = f"{where}[{key!r}]"
                if key not in x or key not in y:
                    change = "dictionary_item_added" if key not in x else "dictionary_item_removed"
                    found.append(
                        {
                            "path": here,
                            "change": change,
                            "left": _jsonable(x.get(key)),
                            "right": _jsonable(y.get(key)),
                        }
                    )
                else:
                    walk(x[key], y[key], here)
            return
        if type(x) is type(y) and isinstance(x, (list, tuple)) and len(x) == len(y):
            for i, (p, q) in enumerate(zip(x, y, strict=True)):
                walk(p, q, f"{where}[{i}]")
            return
        change = "type_changes" if type(x) is not type(y) else "values_changed"
        found.append({"path": where, "change": change, "left": _jsonable(x), "right": _jsonable(y)})

    walk(a, b, path)
    return found
