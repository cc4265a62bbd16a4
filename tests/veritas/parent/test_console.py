"""``visible``: text every writer can encode and every reader can see, told apart exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from veritas.parent.console import visible

any_text = st.text(st.characters(exclude_categories=()) | st.sampled_from("\\\ud800\ufeff\u202e"))


def test_what_cannot_be_seen_or_encoded_is_escaped() -> None:
    assert visible("lone \ud800 pair \ud83d\ude00") == "lone \\ud800 pair \\ud83d\\ude00"
    assert visible("nul\x00 bel\x07 nel\x85") == "nul\\x00 bel\\x07 nel\\x85"
    assert visible("ls\u2028 bom\ufeff rlo\u202eevil") == "ls\\u2028 bom\\ufeff rlo\\u202eevil"
    assert visible("zero\u200bwidth \uffff") == "zero\\u200bwidth \\uffff"
    assert visible("back\\slash") == "back\\\\slash"
    assert visible("emoji \U0001f600 日本 é\ttab\nline") == "emoji \U0001f600 日本 é\ttab\nline"


@given(any_text, any_text)
def test_distinct_texts_stay_distinct(a: str, b: str) -> None:
    assert (visible(a) == visible(b)) == (a == b)
    visible(a).encode("utf-8")  # never raises


def test_the_summary_counts_findings_by_category_most_first() -> None:
    from veritas.parent.console import summary_text
    from veritas.parent.outcome import AuditOutcome

    outcome = AuditOutcome("a", "https://example.org/", "quick_scan", "queue", state="completed")
    outcome.final_state = {
        "findings": [{"category": c} for c in ("tls", "dark_pattern", "tls", "headers", "tls")]
    }
    assert "  findings: 5 (tls 3, dark_pattern 1, headers 1)" in summary_text(outcome).splitlines()
