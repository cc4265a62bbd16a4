"""Graph entities and inconsistencies; the judge's score, level and explanation."""

from __future__ import annotations

from typing import Any

import pytest

from veritas.engine.graph import build_graph, inconsistencies
from veritas.engine.judge import CRITICAL_CAP, judge, risk_level

from .pagefactory import make_page


def test_entities_and_edges() -> None:
    page = make_page(
        '<script src="https://cdn.js.test/x.js"></script>'
        "<p>Write to help@shop.test or call +44 20 7946 0958.</p>"
        "<p>Find us at 221 Baker Street, London</p><p>Family business since 1998.</p>"
        '<a href="https://partner.test/">partner</a><a href="mailto:Sales@Shop.test">mail</a>'
        "<footer>© 2010-2024 Shop Ltd</footer>"
    )
    graph = build_graph([page]).to_json()
    ids = [e["id"] for e in graph["entities"]]
    for expected in (
        "script_host:cdn.js.test",
        "email:help@shop.test",
        "email:sales@shop.test",
        "phone:+442079460958",
        "address:221 Baker Street, London",
        "claim:since 1998",
        "copyright:2010 Shop Ltd",
        "domain:partner.test",
    ):
        assert expected in ids
    assert ids == sorted(ids)
    edge = {
        "source": "page:https://shop.test/",
        "relation": "loads_script",
        "target": "script_host:cdn.js.test",
    }
    assert edge in graph["edges"]
    assert "phone:+20102024" not in ids  # a year range is not a phone number


def test_inconsistencies() -> None:
    pages = [
        make_page("<p>Serving you since 1998</p><p>© 2005 Acme Ltd</p><p>acme.help@gmail.com</p>"),
        make_page("<p>Founded in 2012</p><p>© 2006 Other Corp</p>", "https://shop.test/about"),
    ]
    types = sorted(f.type for f in inconsistencies(build_graph(pages), pages))
    assert types == [
        "claim_after_copyright",
        "conflicting_copyright_holder",
        "conflicting_founding_year",
        "free_mail_contact",
    ]


def test_consistent_site_has_no_inconsistencies() -> None:
    pages = [make_page("<p>Since 1998.</p><p>© 2024 Acme</p><p>info@shop.test</p>")]
    assert inconsistencies(build_graph(pages), pages) == []


def finding(
    category: str, severity: str, kind: str = "x", confidence: float = 1.0
) -> dict[str, Any]:
    return {
        "id": "F0001",
        "category": category,
        "type": kind,
        "severity": severity,
        "confidence": confidence,
        "title": kind,
    }


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (100, "trusted"),
        (85, "trusted"),
        (84, "probably_safe"),
        (65, "probably_safe"),
        (50, "suspicious"),
        (30, "high_risk"),
        (24, "likely_fraudulent"),
        (0, "likely_fraudulent"),
    ],
)
def test_risk_levels(score: int, level: str) -> None:
    assert risk_level(score) == level


def test_no_findings_is_trusted() -> None:
    verdict = judge([], 1, 1)
    assert (verdict["trust_score"], verdict["risk_level"]) == (100, "trusted")
    assert verdict["explanation"][0] == "Trust score 100/100: trusted."


def test_weights_and_repeats() -> None:
    one = judge([finding("dark_pattern", "high", "a")], 1, 1)
    assert one["trust_score"] == 93  # 100 - 0.35 * 20
    many = judge([finding("dark_pattern", "high", "a")] * 10, 1, 1)
    assert many["trust_score"] == 86  # repeats of one type cost at most twice the worst
    low_confidence = judge([finding("dark_pattern", "high", "a", 0.5)], 1, 1)
    assert low_confidence["trust_score"] > one["trust_score"]


def test_critical_caps_score() -> None:
    verdict = judge([finding("security", "critical", "password_over_http")], 1, 1)
    assert verdict["trust_score"] == CRITICAL_CAP and verdict["risk_level"] == "high_risk"
    assert any("critical" in line for line in verdict["explanation"])


def test_many_problems_are_likely_fraudulent() -> None:
    findings = [
        finding(c, "high", f"{c}{i}")
        for c in ("security", "dark_pattern", "consistency", "availability")
        for i in range(5)
    ]
    assert judge(findings, 1, 1)["risk_level"] == "likely_fraudulent"
