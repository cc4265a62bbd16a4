"""Arbitrary bytes and markup never crash the engine (property tests)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import audit

TAGS = st.sampled_from(
    ["<p>", "</p>", "<a href='http://[bad'>", "<a href='//x:99999/'>", "</a>", "<form action='http://['>",
     "<input type=checkbox checked>", "<label>", "</label>", "<title>", "<base href='::'>", "<li>",
     "<div class='ad'>", "</div>", "<script>", "</script>", "<br/>", "<svg><title>x</title></svg>",
     "Only 3 left", "since 1998", "© 2001 X", "a@b.co", "+1 555 123 4567", "\x00", "\u2028", "😀", "&amp;", "&#0;"]
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(TAGS, st.text(max_size=20)), max_size=40), tail=st.binary(max_size=64)
)
def test_any_page_completes(parts: list[str], tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "index.html"
        page.write_bytes("".join(parts).encode("utf-8", "surrogatepass") + tail)
        sink = audit(page.as_uri())
    assert sink.last.type in ("audit_complete", "audit_error")
    if sink.last.type == "audit_error":
        assert sink.last.summary["error"]["kind"] == "binary_content", sink.last.summary
