"""Judge: a trust score 0-100 from weighted sub-signals, a risk level, and why.

Each sub-signal starts at 100 and loses points per finding in its category, by severity and
scaled by the finding's confidence. Repeats of one finding type lose at most twice the points
of the worst one, so a page with forty unlabelled ad slots is not scored as forty problems.
A critical finding caps the whole score below ``suspicious``.
"""

from __future__ import annotations

from typing import Any

SIGNALS = (
    ("security", 0.35),
    ("dark_pattern", 0.35),
    ("consistency", 0.15),
    ("availability", 0.15),
)
POINTS = {"critical": 45, "high": 20, "medium": 10, "low": 3, "info": 0}
RISK_LEVELS = (
    (85, "trusted"),
    (65, "probably_safe"),
    (45, "suspicious"),
    (25, "high_risk"),
    (0, "likely_fraudulent"),
)
#: The levels by name, best first.
RISK_LEVEL_NAMES = tuple(level for _, level in RISK_LEVELS)
CRITICAL_CAP = 39


def risk_level(score: int) -> str:
    for threshold, level in RISK_LEVELS:
        if score >= threshold:
            return level
    return RISK_LEVELS[-1][1]


def _signal(findings: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    by_type: dict[str, list[tuple[float, str]]] = {}
    for finding in findings:
        points = POINTS[finding["severity"]] * finding["confidence"]
        by_type.setdefault(finding["type"], []).append((points, finding["id"]))
    deductions: list[dict[str, Any]] = []
    total = 0.0
    for kind, items in sorted(by_type.items()):
        worst = max(points for points, _ in items)
        lost = min(sum(points for points, _ in items), 2 * worst)
        total += lost
        deductions.append({"type": kind, "count": len(items), "points": round(lost, 1)})
    deductions.sort(key=lambda d: (-d["points"], d["type"]))
    return max(0.0, 100.0 - total), deductions


def judge(findings: list[dict[str, Any]], pages_ok: int, pages_total: int) -> dict[str, Any]:
    """The judge's verdict from the finding records (as emitted) of the whole audit."""
    signals: list[dict[str, Any]] = []
    weighted = 0.0
    for name, weight in SIGNALS:
        score, deductions = _signal([f for f in findings if f["category"] == name])
        weighted += score * weight
        signals.append(
            {"name": name, "weight": weight, "score": round(score, 1), "deductions": deductions}
        )
    score = int(weighted + 0.5)
    critical = [f for f in findings if f["severity"] == "critical"]
    if critical:
        score = min(score, CRITICAL_CAP)
    level = risk_level(score)
    explanation = [f"Trust score {score}/100: {level.replace('_', ' ')}."]
    for signal in signals:
        worst = ", ".join(
            f"{d['type'].replace('_', ' ')} (−{d['points']})" for d in signal["deductions"][:3]
        )
        explanation.append(
            f"{signal['name'].replace('_', ' ').capitalize()} {signal['score']}/100 "
            f"(weight {int(signal['weight'] * 100)}%): {worst or 'no problems found'}."
        )
    if critical:
        explanation.append(
            f"Capped at {CRITICAL_CAP} because of a critical finding: {critical[0]['title']}."
        )
    explanation.append(f"{pages_ok} of {pages_total} fetched pages were audited.")
    return {
        "trust_score": score,
        "risk_level": level,
        "signals": signals,
        "explanation": explanation,
    }
