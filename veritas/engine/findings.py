"""The finding record shared by every phase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
CATEGORIES = ("availability", "security", "dark_pattern", "consistency")
SNIPPET_CHARS = 200


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Finding:
    category: str
    type: str
    severity: str
    confidence: float
    title: str
    page_url: str
    selector: str = ""
    text: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding severity {self.severity!r} unknown; accepted: {SEVERITIES}")
        if self.category not in CATEGORIES:
            raise ValueError(f"finding category {self.category!r} unknown; accepted: {CATEGORIES}")

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (SEVERITIES.index(self.severity), self.type, self.page_url, self.selector, self.text)

    def to_json(self, finding_id: str) -> dict[str, Any]:
        return {
            "id": finding_id,
            "category": self.category,
            "type": self.type,
            "severity": self.severity,
            "confidence": round(self.confidence, 2),
            "title": self.title,
            "detail": self.detail,
            "evidence": {
                "page_url": self.page_url,
                "selector": self.selector,
                "snippet": snippet(self.text),
            },
        }


def dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop exact repeats, keeping the first; order is otherwise unchanged."""
    seen: set[Finding] = set()
    out: list[Finding] = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            out.append(finding)
    return out
