"""Whole audits: event order, tiers, the final state against its schema, determinism, Unicode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from veritas.pixels import pixel_digest
from veritas.protocol.event import TIERS

from .support import PAGES, Collector, audit

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "veritas" / "state_schema.json").read_text(encoding="utf-8")
)
PHASE_ORDER = ["scout", "security", "vision", "graph", "judge"]


def comparable(sink: Collector) -> list[tuple[Any, ...]]:
    """Everything in the events except the timestamp."""
    return [
        (
            e.seq,
            e.type,
            e.phase,
            e.step,
            e.pct,
            e.detail,
            json.dumps(e.summary, sort_keys=True),
            e.data,
        )
        for e in sink.events
    ]


def assert_well_formed(sink: Collector) -> dict[str, Any]:
    __tracebackhide__ = True
    types = [e.type for e in sink.events]
    assert types[0] == "audit_start" and types[-1] == "audit_complete"
    assert types.count("audit_complete") == 1 and "audit_error" not in types
    starts = [e.phase for e in sink.events if e.type == "phase_start"]
    completes = [e.phase for e in sink.events if e.type == "phase_complete"]
    assert starts == completes == PHASE_ORDER
    pcts = [e.pct for e in sink.events]
    assert pcts == sorted(pcts) and pcts[-1] == 100.0
    state = sink.last.summary
    errors = validate(state, SCHEMA)
    assert not errors, "\n".join(errors[:20])
    return state


@pytest.mark.parametrize(
    ("tier", "pages", "shots"),
    [("quick_scan", 1, 1), ("standard_audit", 4, 8), ("deep_forensic", 4, 8)],
)
def test_tiers(site: str, tier: str, pages: int, shots: int) -> None:
    sink = audit(f"{site}/shop/index.html", tier)
    state = assert_well_formed(sink)
    assert state["tier"] == tier and state["renderer"] == "pillow"
    assert len(state["pages"]) == pages
    assert len(sink.of_type("screenshot")) == len(state["screenshots"]) == shots
    for event, listed in zip(sink.of_type("screenshot"), state["screenshots"], strict=True):
        assert event.data is not None and event.summary == listed
        assert pixel_digest(event.data) == listed["digest"]
    sizes = {(s["viewport"]["width"], s["viewport"]["height"]) for s in state["screenshots"]}
    assert sizes == ({(1280, 800)} if tier == "quick_scan" else {(1280, 800), (390, 844)})
    assert [f["id"] for f in state["findings"]] == [f["id"] for f in sink.findings()]


def test_page_budget_limits_crawl(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"p{i}.html").write_text(f'<title>p{i}</title><a href="p{i + 1}.html">next</a>')
    sink = audit((tmp_path / "p0.html").as_uri(), "deep_forensic")
    state = assert_well_formed(sink)
    assert [p["title"] for p in state["pages"]] == [f"p{i}" for i in range(10)]
    assert [p["depth"] for p in state["pages"]] == list(range(10))


def test_scout_records_page(site: str) -> None:
    sink = audit(f"{site}/shop/index.html")
    (log,) = [e for e in sink.of_type("log") if e.step == "page"]
    page = log.summary
    assert page["status"] == 200 and page["title"] == "MegaDeals Shop"
    assert {"name": "description", "content": "Gadgets at unbeatable prices"} in page["meta"]
    assert f"{site}/shop/about.html" in [link["href"] for link in page["links"]]
    assert page["scripts"] == [
        {
            "src": "https://cdn.tracker.example/analytics.js",
            "selector": "head > script:nth-of-type(1)",
        }
    ]
    assert page["inline_scripts"] == 1
    assert page["forms"][0]["action"] == f"{site}/subscribe"
    assert "Only 3 items left in stock." in page["text"]
    assert "setInterval" not in page["text"]  # script text is not visible text


def test_final_state_for_file_url() -> None:
    state = assert_well_formed(audit((PAGES / "clean" / "index.html").as_uri(), "standard_audit"))
    assert state["security"]["headers"]["content-security-policy"] == "n/a"
    assert len(state["pages"]) == 2 and state["verdict"]["risk_level"] == "trusted"


@pytest.mark.parametrize("tier", TIERS)
def test_determinism(site: str, tier: str) -> None:
    first = audit(f"{site}/shop/index.html", tier)
    second = audit(f"{site}/shop/index.html", tier)
    assert comparable(first) == comparable(second)


def test_determinism_detects_a_change(tmp_path: Path) -> None:
    """The comparison above can fail: one changed word changes the events."""
    page = tmp_path / "index.html"
    page.write_text("<title>t</title><p>Only 3 left in stock</p>")
    first = audit(page.as_uri())
    page.write_text("<title>t</title><p>Only 4 left in stock</p>")
    assert comparable(first) != comparable(audit(page.as_uri()))


def test_unicode_passes_through_unchanged() -> None:
    url = (PAGES / "unicode" / "index.html").as_uri()
    sink = audit(url)
    state = assert_well_formed(sink)
    (log,) = [e for e in sink.of_type("log") if e.step == "page"]
    text = log.summary["text"]
    for expected in (
        "Emoji 😀👍🏽 and flags 🇯🇵",
        "שלום עולם مرحبا بالعالم",
        "日本語のテキスト 中文 한국어",
        "e\u0301 a\u0308 n\u0303 Z\u0351\u0358",
        "Zero\u200bwidth\u200djoiner\u200c\ufeffmarks",
        "Line\u2028separator and paragraph\u2029separator",
        # The standard's tree builder drops U+0000 in body text, as browsers do.
        "NUL::end",
    ):
        assert expected in text
    assert state["pages"][0]["title"] == "Unicode 😀 עברית 日本語"
    # The wire form keeps it too.
    assert json.loads(json.dumps(log.summary, ensure_ascii=True))["text"] == text


def test_schema_validator_rejects_a_broken_state(site: str) -> None:
    state = assert_well_formed(audit(f"{site}/clean/index.html"))
    broken = json.loads(json.dumps(state))
    broken["verdict"]["trust_score"] = 101
    del broken["renderer"]
    broken["screenshots"][0]["digest"] = "md5:abc"
    errors = validate(broken, SCHEMA)
    assert len(errors) == 3, errors


def validate(state: object, schema: dict[str, object]) -> list[str]:
    """Every way *state* breaks *schema*, one message each (jsonschema, the standard's own)."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(state)]


def test_phase_error_on_unexpected_failure(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from veritas.engine import graph

    def explode(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(graph, "build_graph", explode)
    sink = audit(f"{site}/clean/index.html")
    assert [e.type for e in sink.events][-2:] == ["phase_error", "audit_error"]
    assert sink.last.summary["error"] == {
        "kind": "internal_error",
        "message": "graph failed: KeyError: 'boom'",
        "phase": "graph",
    }
