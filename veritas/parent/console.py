"""Human-readable text for the ``veritas`` CLI: the progress line and the closing summary."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from veritas.parent.outcome import AuditOutcome
from veritas.protocol.event import ProgressEvent

_BAR = 24
#: What ``visible`` escapes: the backslash itself (so that an escape is never ambiguous),
#: control characters but newline and tab, line and paragraph separators, surrogates (which
#: no UTF-8 writer can encode, and which a reader must see are not characters), and the
#: invisible format characters that can hide text or reorder it on screen: soft hyphen,
#: zero-width characters, bidirectional controls, the byte-order mark, non-characters.
_INVISIBLE = re.compile(
    r"[\\\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ud800-\udfff\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe\uffff]"
)


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return "\\\\" if ch == "\\" else f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}"


def visible(text: str) -> str:
    """*text* with every character a reader could not see, or a writer could not encode,
    written as an escape (``\\ud800``, ``\\x00``, ``\\u2028``; a backslash as ``\\\\``).

    Distinct texts stay distinct, so two values shown side by side never look equal unless
    they are.
    """
    return _INVISIBLE.sub(_escape, text)


def _clean(text: str, limit: int = 60) -> str:
    """One printable line: control and line-separator characters become spaces."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def progress_line(event: ProgressEvent, mode: str) -> str:
    filled = round(_BAR * event.pct / 100)
    bar = "█" * filled + "·" * (_BAR - filled)
    return f"[{bar}] {event.pct:5.1f}% {mode:<6} {event.phase:<8} {_clean(event.detail or event.type)}\x1b[K"


def summary_text(outcome: AuditOutcome) -> str:
    lines = [f"Audit of {outcome.url} ({outcome.tier}): {outcome.state}"]
    state: dict[str, Any] = outcome.final_state or {}
    judge = state.get("verdict") or {}
    if judge:
        lines.append(
            f"  trust score {judge.get('trust_score')}/100, risk {judge.get('risk_level')}"
        )
        explanation = judge.get("explanation")
        for line in (
            explanation if isinstance(explanation, list) else [explanation] if explanation else []
        ):
            lines.append(f"    {_clean(str(line), 200)}")
    findings = state.get("findings") or []
    if findings:
        by_cat = Counter(str(f.get("category")) for f in findings)
        cats = ", ".join(
            f"{c} {n}" for c, n in sorted(by_cat.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        lines.append(f"  findings: {len(findings)} ({_clean(cats, 200)})")
    pages = state.get("pages") or []
    if pages:
        lines.append(f"  pages audited: {len(pages)}")
    shots = state.get("screenshots") or []
    if shots:
        lines.append(f"  screenshots: {len(shots)} (renderer {state.get('renderer', '?')})")
    if outcome.error:
        lines.append(f"  error: {_clean(outcome.error, 200)}")
    fb = f", fell back: {outcome.fallback_reason}" if outcome.fallback else ""
    lines.append(
        f"  IPC: requested {outcome.mode_requested}, used {outcome.mode_used}{fb}; events "
        f"queue {outcome.events_by_transport['queue']} / stdout "
        f"{outcome.events_by_transport['stdout']}; {outcome.duration_s:.2f}s"
    )
    if outcome.ipc_faults:
        lines.append(f"  IPC faults: {'; '.join(outcome.ipc_faults)}")
    return "\n".join(lines)
