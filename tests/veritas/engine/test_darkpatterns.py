"""Dark-pattern rules: each pattern on a small page, and a clean page that triggers none."""

from __future__ import annotations

import pytest

from veritas.engine.darkpatterns import detect
from veritas.engine.htmlparse import parse_html

URL = "https://shop.test/"


def found(html: str) -> list[tuple[str, str]]:
    return [(f.type, f.selector) for f in detect(parse_html(html, URL), URL)]


@pytest.mark.parametrize(
    ("html", "kind"),
    [
        ("<p>Hurry, offer ends in 2 hours!</p>", "false_urgency"),
        ("<p>Sale ends at midnight</p>", "false_urgency"),
        ("<p>Deal expires in 05:12:09</p>", "false_urgency"),
        ("<p>Limited-time price</p>", "false_urgency"),
        ("<p>Only 2 rooms left</p>", "false_scarcity"),
        ("<p>Only 3 left!</p>", "false_scarcity"),
        ("<p>12 people are viewing this hotel</p>", "false_scarcity"),
        ("<p>Selling fast</p>", "false_scarcity"),
        ('<a href="/x">No thanks, I prefer paying full price</a>', "confirmshaming"),
        ("<button>I don't want to save money</button>", "confirmshaming"),
        (
            '<label><input type="checkbox" name="insurance" checked> Add travel insurance</label>',
            "preselected_addon",
        ),
        ('<input type="checkbox" name="newsletter" checked>', "preselected_addon"),
        ("<p>A booking fee applies</p>", "hidden_costs"),
        ("<p>Taxes and fees not included</p>", "hidden_costs"),
        ('<div class="ad-banner"><h3>Ten tricks doctors hate</h3></div>', "disguised_ad"),
        ('<a href="https://ads.other.test/dl">Download Now</a>', "disguised_ad"),
        ("<p>Start your free trial, then $9.99/month</p>", "forced_continuity"),
        ("<p>Your plan renews automatically unless you cancel</p>", "forced_continuity"),
        (
            "<h2>Free trial</h2><p>You will be charged automatically after 7 days.</p>",
            "forced_continuity",
        ),
    ],
)
def test_pattern(html: str, kind: str) -> None:
    kinds = [k for k, _ in found(html)]
    assert kind in kinds, kinds


def test_countdown_script() -> None:
    html = '<span class="countdown">10:00</span><script>setInterval(tick, 1000)</script>'
    assert ("false_urgency", "body > span:nth-of-type(1)") in found(html)


def test_evidence() -> None:
    (finding,) = detect(
        parse_html('<main><p id="stock">Only <b>4</b> left in stock</p></main>', URL), URL
    )
    record = finding.to_json("F0001")
    assert record["evidence"] == {
        "page_url": URL,
        "selector": "p#stock",
        "snippet": "Only 4 left in stock",
    }
    assert record["category"] == "dark_pattern" and 0 < record["confidence"] <= 1


@pytest.mark.parametrize(
    "html",
    [
        "<p>Opening hours 9 to 17. Free delivery on all orders.</p>",
        '<label><input type="checkbox" name="remember" checked> Remember me</label>',
        '<input type="checkbox" name="newsletter">',
        '<div class="ad-banner"><p>Advertisement: Ten tricks</p></div>',
        '<a href="/download">Download</a>',
        "<p>In stock: 300 items</p>",
    ],
)
def test_no_false_positive(html: str) -> None:
    assert found(html) == []
