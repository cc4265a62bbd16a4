"""Dark-pattern detection from the page's DOM and visible text (rules, no model).

Each rule names what it matched: the text rules run per visible text block (so the evidence
is that block's selector and text), the DOM rules on form controls, links and element names.
Patterns are English; a page in another language simply yields fewer findings.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Final

from veritas.engine.findings import Finding
from veritas.engine.htmlparse import Block, PageDocument, collapse

#: Every kind of dark pattern the rules below report (a finding's ``kind``).
KINDS: Final = (
    "false_urgency",
    "false_scarcity",
    "confirmshaming",
    "preselected_addon",
    "hidden_costs",
    "disguised_ad",
    "forced_continuity",
)

_I = re.IGNORECASE
_PRICE = r"(?:[$€£¥]\s?\d[\d.,]*|\d[\d.,]*\s?(?:usd|eur|gbp|dollars?|euros?))"

URGENCY = [
    re.compile(r"\b(?:offer|sale|deal|discount|price)s?\s+(?:ends?|expires?)\b", _I),
    re.compile(r"\bends?\s+in\s+\d", _I),
    re.compile(r"\bexpires?\s+in\b", _I),
    re.compile(r"\b(?:hurry|act now|last chance|don'?t miss out|today only|only today)\b", _I),
    re.compile(r"\blimited[- ]time\b", _I),
    re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b"),
]
SCARCITY = [
    re.compile(r"\bonly\s+\d+\s+(?:\w+\s+){0,2}(?:left|remaining|available)\b", _I),
    re.compile(r"\b\d+\s+(?:items?\s+)?left\s+in\s+stock\b", _I),
    re.compile(
        r"\b\d+\s+(?:other\s+)?(?:people|persons|customers|shoppers|users)\s+"
        r"(?:are\s+)?(?:viewing|looking|watching|have\s+this)",
        _I,
    ),
    re.compile(r"\b(?:selling fast|almost gone|low stock|high demand|nearly sold out)\b", _I),
]
CONFIRMSHAMING = [
    re.compile(r"\bno,?\s+thanks?,?\s+i\b", _I),
    re.compile(r"\bi\s+(?:don'?t|do not)\s+(?:want|like|care|need)\b", _I),
    re.compile(
        r"\bi(?:'d| would)?\s+(?:rather|prefer)\s+(?:to\s+)?(?:pay|miss|stay|lose|not)\b", _I
    ),
    re.compile(r"\bi\s+(?:hate|enjoy\s+paying)\b", _I),
]
HIDDEN_COSTS = [
    re.compile(
        r"\b(?:service|handling|processing|convenience|booking|admin(?:istration)?|"
        r"resort|cleaning)\s+fees?\b",
        _I,
    ),
    re.compile(
        r"\b(?:taxes|fees)\s+(?:and\s+\w+\s+)?(?:not included|calculated at checkout|extra)\b", _I
    ),
    re.compile(r"\badditional\s+(?:fees|charges)\s+(?:may\s+)?apply\b", _I),
    re.compile(r"\bplus\s+(?:shipping|fees|taxes)\b|\+\s*(?:shipping|fees)\b", _I),
]
CONTINUITY = [
    re.compile(
        r"\bfree\s+trial\b.{0,160}\b(?:automatically|auto-?renew|will be (?:charged|billed)|"
        r"then\s+" + _PRICE + r")",
        _I | re.S,
    ),
    re.compile(
        r"\b(?:(?:automatically|auto-?)\s*renew|renews?\s+automatically)\w*\b.{0,120}\b(?:unless|until)\s+(?:you\s+)?cancel",
        _I | re.S,
    ),
    re.compile(
        r"\bcredit card required\b.{0,80}\btrial\b|\btrial\b.{0,80}\bcredit card required\b",
        _I | re.S,
    ),
]
_ADDON_WORDS = re.compile(
    r"insur|protect|warrant|donat|tip\b|newsletter|subscri|premium|upgrade|gift|extra|add-?on|"
    r"priority|membership|plan|offer|marketing|partner",
    _I,
)
_AD_CLASS = re.compile(
    r"(?:^|[\s_-])(?:ad|ads|advert|advertisement|sponsor(?:ed)?|promoted|banner-ad)(?:$|[\s_-])", _I
)
_AD_DISCLOSURE = re.compile(
    r"\b(?:ad|ads|advertisement|sponsored|promoted|anzeige|publicité)\b", _I
)
_DOWNLOAD_BAIT = re.compile(
    r"^\s*(?:download(?:\s+now)?|start(?:\s+download)?|play(?:\s+now)?|"
    r"continue|watch now|install)\s*[!.]?\s*$",
    _I,
)


def _text_rule(
    blocks: Iterable[Block],
    url: str,
    patterns: list[re.Pattern[str]],
    kind: str,
    severity: str,
    confidence: float,
    title: str,
    kinds: frozenset[str] | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    for block in blocks:
        if kinds is not None and block.kind not in kinds:
            continue
        for pattern in patterns:
            match = pattern.search(block.text)
            if match:
                findings.append(
                    Finding(
                        "dark_pattern",
                        kind,
                        severity,
                        confidence,
                        title,
                        url,
                        block.selector,
                        block.text,
                        detail=f"matched {match.group(0)!r}",
                    )
                )
                break
    return findings


def _preselected(doc: PageDocument, url: str) -> list[Finding]:
    findings: list[Finding] = []
    for control in doc.fields:
        if control.kind not in ("checkbox", "radio") or not control.checked or control.hidden:
            continue
        words = f"{control.name} {control.value} {control.label}"
        if not _ADDON_WORDS.search(words):
            continue
        if control.kind == "radio" and not re.search(_PRICE, control.label, _I):
            continue
        paid = bool(re.search(_PRICE, control.label, _I))
        findings.append(
            Finding(
                "dark_pattern",
                "preselected_addon",
                "high" if paid else "medium",
                0.9 if paid else 0.7,
                "An add-on is selected for the user in advance",
                url,
                control.selector,
                control.label or control.name,
                detail=f"{control.kind} name={control.name!r} is checked by default",
            )
        )
    return findings


def _disguised_ads(doc: PageDocument, url: str) -> list[Finding]:
    findings: list[Finding] = []
    host = urllib.parse.urlsplit(url).hostname or ""
    for block in doc.blocks:
        if _AD_CLASS.search(block.classes) and not _AD_DISCLOSURE.search(block.text):
            findings.append(
                Finding(
                    "dark_pattern",
                    "disguised_ad",
                    "medium",
                    0.6,
                    "Advertising content is not labelled as an ad",
                    url,
                    block.selector,
                    block.text,
                    detail=f"element names: {block.classes}",
                )
            )
    for link in doc.links:
        target = urllib.parse.urlsplit(link.href)
        external = target.scheme in ("http", "https") and target.hostname != host
        sponsored = "sponsored" in link.rel
        if _DOWNLOAD_BAIT.match(link.text) and (external or sponsored):
            findings.append(
                Finding(
                    "dark_pattern",
                    "disguised_ad",
                    "high",
                    0.8,
                    "A download-style button leads to another site",
                    url,
                    link.selector,
                    link.text,
                    detail=f"links to {link.href}",
                )
            )
    return findings


def _countdown(doc: PageDocument, url: str) -> list[Finding]:
    script = "\n".join(doc.inline_scripts)
    if not doc.timer_selectors or not re.search(
        r"setInterval|setTimeout|requestAnimationFrame", script
    ):
        return []
    return [
        Finding(
            "dark_pattern",
            "false_urgency",
            "medium",
            0.7,
            "A script-driven countdown timer",
            url,
            doc.timer_selectors[0],
            detail="an element named like a timer and a script that updates on a timer",
        )
    ]


def detect(doc: PageDocument, url: str) -> list[Finding]:
    """All dark-pattern findings on one page, in a fixed rule order then document order."""
    blocks = doc.blocks
    actions = frozenset({"link", "button", "a", "label"})
    findings = _text_rule(
        blocks,
        url,
        URGENCY,
        "false_urgency",
        "medium",
        0.75,
        "Urgency pressure (countdown or deadline)",
    )
    findings += _countdown(doc, url)
    findings += _text_rule(
        blocks,
        url,
        SCARCITY,
        "false_scarcity",
        "medium",
        0.75,
        "Scarcity pressure (low stock or others viewing)",
    )
    findings += _text_rule(
        blocks,
        url,
        CONFIRMSHAMING,
        "confirmshaming",
        "medium",
        0.8,
        "The decline option shames the user",
        actions,
    )
    findings += _text_rule(
        blocks,
        url,
        CONFIRMSHAMING,
        "confirmshaming",
        "low",
        0.5,
        "Guilt-tripping wording near a choice",
        frozenset({"p", "span", "div", "small"}),
    )
    findings += _preselected(doc, url)
    findings += _text_rule(
        blocks,
        url,
        HIDDEN_COSTS,
        "hidden_costs",
        "medium",
        0.65,
        "Extra fees mentioned apart from the price",
    )
    findings += _disguised_ads(doc, url)
    continuity = _text_rule(
        blocks,
        url,
        CONTINUITY,
        "forced_continuity",
        "high",
        0.75,
        "A free trial turns into a paid subscription",
    )
    if not continuity:
        # The trial offer and its renewal terms are often in separate elements.
        whole = Block("body", collapse(doc.text), "body", "")
        continuity = _text_rule(
            [whole],
            url,
            CONTINUITY,
            "forced_continuity",
            "high",
            0.6,
            "A free trial turns into a paid subscription",
        )
    findings += continuity
    return findings
