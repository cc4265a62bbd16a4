"""Masking: a case's ignore rules, and the selector language that says what they mask.

An ignore rule is named and reasoned, and masks only what its selectors reach (with an
optional pattern, only the matching substrings). The verdict applies rules only after the
streams differ, and reports each rule and how many values it masked.

Selectors: a root (``events`` or ``final``) followed by ``.key``, ``.*``, ``.**``, ``[N]``,
``[*]`` or ``[key=value]``; e.g. ``events[type=finding].summary.**``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_SEGMENT_RE: Final = re.compile(
    r"\.([A-Za-z_][A-Za-z0-9_-]*|\*\*|\*)|\[(\*|\d+)\]|\[([A-Za-z_][A-Za-z0-9_]*)=([^\]]*)\]"
)
_ROOT_RE: Final = re.compile(r"^(events|final)")


@dataclass(frozen=True)
class Where:
    """A ``[key=value]`` selector segment: the list items that are dicts with that value."""

    key: str
    value: str


#: A parsed selector segment: a dict key, ``"*"`` (every key or item), ``"**"`` (this node
#: and everything below it), a list index, or a ``Where`` filter.
Segment = str | int | Where


def parse_selector(text: str) -> tuple[Segment, ...]:
    """Parse ``events[type=finding].summary.**`` into ``("events", Where(...), ...)``.

    Grammar: a root (``events`` or ``final``) followed by ``.key``, ``.*``, ``.**``, ``[N]``,
    ``[*]`` or ``[key=value]``. Raises ``ValueError`` naming the first bad position.
    """
    root = _ROOT_RE.match(text)
    if root is None:
        raise ValueError(f"{text!r} must start with 'events' or 'final'")
    segments: list[Segment] = [root.group(1)]
    pos = root.end()
    while pos < len(text):
        m = _SEGMENT_RE.match(text, pos)
        if m is None:
            raise ValueError(f"{text!r}: unexpected {text[pos:]!r} at offset {pos}")
        key, index, fkey, fvalue = m.groups()
        if key is not None:
            segments.append(key)
        elif fkey is not None:
            segments.append(Where(fkey, fvalue))
        else:
            segments.append("*" if index == "*" else int(index))
        pos = m.end()
    return tuple(segments)


def _children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def _has(item: dict[Any, Any], where: Where) -> bool:
    return where.key in item and str(item[where.key]) == where.value


@dataclass(frozen=True)
class IgnoreRule:
    """A named, reasoned exclusion of part of the audit output from comparison."""

    name: str
    reason: str
    paths: tuple[str, ...]
    pattern: str | None = None

    def apply(self, doc: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """Return ``doc`` with the selected parts masked, and how many values were masked.

        ``doc`` is ``{"events": [event dicts], "final": audit_complete summary}``. Without
        ``pattern`` a selected value is replaced whole; with it, only the matching substrings
        of selected string values are. The mask is ``<ignored:NAME>``. ``doc`` is not changed.
        """
        regex = re.compile(self.pattern) if self.pattern is not None else None
        mask = f"<ignored:{self.name}>"
        count = 0

        def leaf(node: Any) -> Any:
            nonlocal count
            if regex is None:
                count += 1
                return mask
            if isinstance(node, str):
                new, n = regex.subn(mask, node)
                count += n
                return new
            return node

        def rebuild(node: Any, picks: dict[Any, Any]) -> Any:
            if isinstance(node, dict):
                return {k: picks.get(k, v) for k, v in node.items()}
            return [picks.get(i, v) for i, v in enumerate(node)]

        def walk(node: Any, rest: tuple[Segment, ...]) -> Any:
            if not rest:
                return leaf(node)
            head, tail = rest[0], rest[1:]
            if head == "**":
                # ``**`` applies the rest of the path here and at every depth below.
                if tail:
                    node = walk(node, tail)
                elif not _children(node):
                    return leaf(node)
                kids = _children(node)
                return rebuild(node, {k: walk(v, rest) for k, v in kids}) if kids else node
            picks = {
                k: walk(v, tail)
                for k, v in _children(node)
                if head == "*"
                or k == head
                or (isinstance(head, Where) and isinstance(v, dict) and _has(v, head))
            }
            return rebuild(node, picks) if picks else node

        out = dict(doc)
        for path in self.paths:
            segments = parse_selector(path)
            root = str(segments[0])
            if root in out:
                out[root] = walk(out[root], segments[1:])
        return out, count
