"""Normalization: named rules, each removing one thing that is volatile by nature.

Nothing else is normalized. Each rule counts what it changed, and the report lists the rules
with their counts, so a reviewer sees exactly what was not compared.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from typing import Any

_DURATION_KEY = re.compile(r"(^|_)(duration|elapsed)(_ms|_s|_seconds)?$")
_PID_KEYS = frozenset({"pid", "ppid"})
_TMP_ROOTS = sorted({tempfile.gettempdir(), "/tmp", "/var/tmp"}, key=len, reverse=True)
_TMP_PATH = re.compile("(" + "|".join(re.escape(r) for r in _TMP_ROOTS) + r")[/\\][^\s\"'<>]*")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str


RULES: tuple[Rule, ...] = (
    Rule("event-timestamp", "the wall-clock `timestamp` of every event is removed"),
    Rule("durations", "values under keys named duration/elapsed (_ms, _s) become <duration>"),
    Rule("temp-paths", "paths under the temporary directory become <tmp>"),
    Rule("process-ids", "values under keys pid/ppid become <pid>"),
)


class Normalizer:
    """Applies every rule in ``RULES``; ``counts`` says how many values each rule changed."""

    def __init__(self) -> None:
        self.counts = {rule.name: 0 for rule in RULES}

    def events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for event in events:
            event = dict(event)
            if "timestamp" in event:
                del event["timestamp"]
                self.counts["event-timestamp"] += 1
            out.append(self._walk(event))
        return out

    def value(self, value: Any) -> Any:
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                if _DURATION_KEY.search(key) and isinstance(item, (int, float)):
                    self.counts["durations"] += 1
                    result[key] = "<duration>"
                elif key in _PID_KEYS and isinstance(item, int):
                    self.counts["process-ids"] += 1
                    result[key] = "<pid>"
                else:
                    result[key] = self._walk(item)
            return result
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, str) and _TMP_PATH.search(value):
            self.counts["temp-paths"] += 1
            return _TMP_PATH.sub("<tmp>", value)
        return value


def rules_report(counts: dict[str, int] | None = None) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "description": r.description, "applied": (counts or {}).get(r.name, 0)}
        for r in RULES
    ]
