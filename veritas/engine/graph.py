"""Graph: the entities a site shows (domains, script hosts, emails, phones, addresses, claims)
and the links between them, plus the inconsistencies that rules can see between entities.

Entity ids are ``<type>:<value>``, so the graph has no order of its own; it is sorted on output.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from veritas.engine.findings import Finding
from veritas.engine.scout import Page

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}[\s.-]\d{2,4}(?:[\s.-]\d{2,4})?(?![\w])"
)
ADDRESS = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][\w'.-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|"
    r"Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|Parkway|Pkwy)\b\.?(?:,\s*[\w .'-]{2,40}){0,3}"
)
CLAIM = re.compile(
    r"\b(?:since|established(?:\s+in)?|est\.?|founded(?:\s+in)?|in business since)\s+(\d{4})\b"
    r"|\b(?:over|more than)\s+[\d,.]+\s*(?:k|million|thousand)?\s+(?:happy\s+|satisfied\s+)?"
    r"(?:customers|clients|users)\b"
    r"|\b(?:100%\s+(?:secure|safe|guaranteed)|money[- ]back guarantee|award[- ]winning|#1\b[^.]{0,40})",
    re.I,
)
COPYRIGHT = re.compile(
    r"(?:©|&copy;|\(c\)|copyright)\s*(\d{4})(?:\s*[-–]\s*(\d{4}))?\s*([^|\n.]{0,60})", re.I
)
_FREE_MAIL = frozenset(
    {
        "gmail.com",
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "aol.com",
        "mail.ru",
        "protonmail.com",
        "gmx.com",
        "icloud.com",
        "qq.com",
    }
)
MAX_ENTITIES_PER_TYPE = 200


@dataclass
class SiteGraph:
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def entity(self, kind: str, value: str, page_url: str) -> str:
        key = f"{kind}:{value}"
        entry = self.entities.setdefault(
            key, {"id": key, "type": kind, "value": value, "pages": []}
        )
        if page_url not in entry["pages"]:
            entry["pages"].append(page_url)
        return key

    def link(self, source: str, relation: str, target: str) -> None:
        self.edges.add((source, relation, target))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for key, e in sorted(self.entities.items()) if e["type"] == kind]

    def to_json(self) -> dict[str, Any]:
        entities = []
        counts: dict[str, int] = {}
        for _key, entry in sorted(self.entities.items()):
            counts[entry["type"]] = counts.get(entry["type"], 0) + 1
            if counts[entry["type"]] <= MAX_ENTITIES_PER_TYPE:
                entities.append({**entry, "pages": sorted(entry["pages"])})
        kept = {e["id"] for e in entities}
        edges = [
            {"source": s, "relation": r, "target": t}
            for s, r, t in sorted(self.edges)
            if s in kept and t in kept
        ]
        return {"entities": entities, "edges": edges, "entity_counts": dict(sorted(counts.items()))}


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _registrable(host: str) -> str:
    """The last two labels (``shop.example.com`` -> ``example.com``); no public-suffix list."""
    return ".".join(host.split(".")[-2:]) if host.count(".") >= 1 else host


def build_graph(pages: list[Page]) -> SiteGraph:
    graph = SiteGraph()
    for page in pages:
        if page.doc is None:
            continue
        url = page.final_url
        page_id = graph.entity("page", url, url)
        host = _host(url)
        if host:
            graph.link(page_id, "hosted_on", graph.entity("domain", host, url))
        for link in page.doc.links:
            scheme = urllib.parse.urlsplit(link.href).scheme
            if scheme in ("http", "https") and _host(link.href) and _host(link.href) != host:
                graph.link(page_id, "links_to", graph.entity("domain", _host(link.href), url))
            elif scheme == "mailto":
                address = urllib.parse.unquote(link.href[7:].split("?")[0]).lower()
                if EMAIL.fullmatch(address):
                    graph.link(page_id, "mentions", graph.entity("email", address, url))
            elif scheme == "tel":
                graph.link(page_id, "mentions", graph.entity("phone", _phone(link.href[4:]), url))
        for res in page.doc.resources:
            res_host = _host(res.url)
            if res_host and res_host != host:
                relation = "loads_script" if res.kind == "script" else f"loads_{res.kind}"
                kind = "script_host" if res.kind == "script" else "domain"
                graph.link(page_id, relation, graph.entity(kind, res_host, url))
        for form in page.doc.forms:
            form_host = _host(form.action)
            if form_host and form_host != host:
                graph.link(page_id, "submits_to", graph.entity("domain", form_host, url))
        text = page.text
        for match in EMAIL.finditer(text):
            graph.link(page_id, "mentions", graph.entity("email", match.group(0).lower(), url))
        for match in PHONE.finditer(text):
            digits = re.sub(r"\D", "", match.group(0))
            if 7 <= len(digits) <= 15 and not re.fullmatch(
                r"(19|20)\d{2}\s*[-–]\s*(19|20)\d{2}", match.group(0)
            ):
                graph.link(page_id, "mentions", graph.entity("phone", _phone(match.group(0)), url))
        for match in ADDRESS.finditer(text):
            graph.link(
                page_id, "mentions", graph.entity("address", match.group(0).strip(" ,"), url)
            )
        for match in CLAIM.finditer(text):
            graph.link(page_id, "claims", graph.entity("claim", match.group(0).strip(), url))
        for match in COPYRIGHT.finditer(text):
            holder = match.group(3).strip(" ,.-–") or "(unnamed)"
            graph.link(
                page_id, "claims", graph.entity("copyright", f"{match.group(1)} {holder}", url)
            )
    for email in graph.of_type("email"):
        domain = email["value"].rsplit("@", 1)[1]
        for url in email["pages"]:
            graph.link(email["id"], "at_domain", graph.entity("domain", domain, url))
    return graph


def _phone(raw: str) -> str:
    raw = urllib.parse.unquote(raw).strip()
    return ("+" if raw.startswith("+") else "") + re.sub(r"\D", "", raw)


def inconsistencies(graph: SiteGraph, pages: list[Page]) -> list[Finding]:
    findings: list[Finding] = []
    start = pages[0].final_url
    site = _registrable(_host(start))
    years: dict[str, list[str]] = {}
    for claim in graph.of_type("claim"):
        match = re.search(r"\b(1[89]\d{2}|20\d{2})\b", claim["value"])
        if match and re.match(r"(?i)since|est|founded|in business", claim["value"]):
            years.setdefault(match.group(1), []).extend(claim["pages"])
    if len(years) > 1:
        findings.append(
            Finding(
                "consistency",
                "conflicting_founding_year",
                "medium",
                0.9,
                f"The site claims different founding years: {', '.join(sorted(years))}",
                sorted(years.items())[0][1][0],
                text="; ".join(sorted(years)),
            )
        )
    copyrights = graph.of_type("copyright")
    first_copyright = min((int(c["value"][:4]) for c in copyrights), default=None)
    for year, where in sorted(years.items()):
        if first_copyright is not None and int(year) > first_copyright:
            findings.append(
                Finding(
                    "consistency",
                    "claim_after_copyright",
                    "low",
                    0.6,
                    f"Founded in {year}, yet a copyright notice dates from {first_copyright}",
                    sorted(where)[0],
                    text=year,
                )
            )
    holders = {c["value"][5:].lower() for c in copyrights if not c["value"].endswith("(unnamed)")}
    if len(holders) > 1:
        findings.append(
            Finding(
                "consistency",
                "conflicting_copyright_holder",
                "medium",
                0.7,
                "Copyright notices name different owners",
                start,
                text="; ".join(sorted(holders)),
            )
        )
    for email in graph.of_type("email"):
        domain = email["value"].rsplit("@", 1)[1]
        if domain in _FREE_MAIL and not site.endswith(domain):
            findings.append(
                Finding(
                    "consistency",
                    "free_mail_contact",
                    "low",
                    0.7,
                    "The contact address is a free webmail account",
                    sorted(email["pages"])[0],
                    text=email["value"],
                )
            )
    script_hosts = graph.of_type("script_host")
    if len(script_hosts) > 8:
        findings.append(
            Finding(
                "consistency",
                "many_script_hosts",
                "low",
                0.6,
                f"Scripts load from {len(script_hosts)} other hosts",
                start,
                text=", ".join(h["value"] for h in script_hosts[:10]),
            )
        )
    return findings
