"""``python -m harness.tools.parserbench``: HTML5 parsers side by side, speed and conformance.

The engine parses every fetched page; this measures the candidate parsers on the pages the
corpus serves: the static pages of ``fixtures/sites/`` and the generated pages its sidecars
build (the ten 250-lot aisles of the 2,500-findings case, the long transcripts), which are the
largest. Speed is MB/s of UTF-8 input to a finished tree, best of ``--repeats`` rounds, the
candidates interleaved within each round so that machine noise hits all of them alike.

Conformance is judged on small documents whose tree the HTML standard fixes: implied end tags,
misnested formatting (the adoption agency), foster parenting, ``<template>``, comments and
CDATA, void elements. Each candidate's tree is written as an outline (``p("a") b(i("x"))``) and
compared with the standard's. Encodings are judged where a candidate decodes bytes itself.

A candidate that is not installed is listed as such; the rest still run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.corpus.sites import discover_sites
from harness.corpus.siteserver import generate_body
from veritas.engine.decode import decode_html
from veritas.engine.htmlparse import parse_html

ROOT = Path(__file__).resolve().parents[2]
SITES = ROOT / "fixtures" / "sites"

#: (name, HTML, the outline of ``<body>`` the standard gives).
CONFORMANCE: list[tuple[str, str, str]] = [
    (
        "implied end tags (p, li, td, option)",
        "<p>a<p>b<ul><li>1<li>2</ul><table><tr><td>x<td>y</table>"
        "<select><option>a<option>b</select>",
        'p("a") p("b") ul(li("1") li("2")) table(tbody(tr(td("x") td("y")))) '
        'select(option("a") option("b"))',
    ),
    ("misnested tags (adoption agency)", "<b><i>x</b>y</i>", 'b(i("x")) i("y")'),
    (
        "table with stray content (foster parenting)",
        "<table><tr><td>x</td></tr>stray<b>bold</b></table>",
        '"stray" b("bold") table(tbody(tr(td("x"))))',
    ),
    (
        "<template> content",
        "<p>a<template><p>t</p></template>b",
        'p("a" template[p("t")] "b")',
    ),
    (
        "comments and CDATA",
        "<p><!--c--><![CDATA[x]]><svg><![CDATA[y]]></svg>",
        'p(<!--c--> <!--[CDATA[x]]--> svg:svg("y"))',
    ),
    ("void elements", "<br></br><img>x</img><input>y", 'br br img "x" input "y"'),
]

#: (name, bytes, text the standard decodes them to, within the body).
ENCODINGS: list[tuple[str, bytes, str]] = [
    ("meta charset", b'<meta charset="windows-1252"><p>\x93q\x94', "\u201cq\u201d"),
    ("BOM over meta", b'\xef\xbb\xbf<meta charset="windows-1252"><p>\xc3\xa9', "\u00e9"),
    ("a declared charset that lies", b'<meta charset="windows-1252"><p>\xc3\xa9', "\u00c3\u00a9"),
    ("undeclared UTF-8 (sniffed, as browsers do)", "<p>\u65e5\u672c".encode(), "\u65e5\u672c"),
]


@dataclass(frozen=True)
class Candidate:
    name: str
    module: str  # what must be importable
    parse: Callable[[str], Any]  # str -> a finished tree
    outline: Callable[[str], str]  # HTML -> the outline of its body
    decode: Callable[[bytes], str] | None = None  # bytes -> body text, if it sniffs itself


def _join(parts: Iterable[str]) -> str:
    return " ".join(part for part in parts if part)


def _text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) if text else ""


# --- selectolax (Lexbor) ------------------------------------------------------------------
def _lexbor_parse(html: str) -> Any:
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(html)


def _lexbor_nodes(node: Any) -> Iterator[str]:
    while node is not None:
        if node.is_text_node:
            yield _text(node.text_content or "")
        elif node.is_comment_node:
            yield f"<!--{node.comment_content}-->"
        elif node.is_element_node:
            tag = "svg:svg" if node.tag == "svg" else node.tag
            if node.tag == "template":
                inner = _join(_join(_lexbor_nodes(f.child)) for f in node.template_fragments())
                yield f"{tag}[{inner}]"
            else:
                inner = _join(_lexbor_nodes(node.child))
                yield f"{tag}({inner})" if inner else tag
        node = node.next


def _lexbor_outline(html: str) -> str:
    body = _lexbor_parse(html).body
    return _join(_lexbor_nodes(body.child)) if body is not None else ""


# --- html5lib and lxml (ElementTree-shaped trees) -------------------------------------------
def _etree_nodes(element: Any, comment_tag: Any) -> Iterator[str]:
    yield _text(element.text or "")
    for child in element:
        if child.tag is comment_tag:
            yield f"<!--{child.text}-->"
        else:
            tag = str(child.tag)
            if tag.startswith("{http://www.w3.org/2000/svg}"):
                tag = "svg:" + tag.rpartition("}")[2]
            inner = _join(_etree_nodes(child, comment_tag))
            yield f"{tag}({inner})" if inner else tag
        yield _text(child.tail or "")


def _optional(name: str) -> Any:
    """A candidate's module; the candidates other than the engine's own are not dependencies."""
    return importlib.import_module(name)


def _html5lib_parse(html: str) -> Any:
    return _optional("html5lib").parse(html, namespaceHTMLElements=False)


def _html5lib_outline(html: str) -> str:
    import xml.etree.ElementTree as ET

    body = _html5lib_parse(html).find("body")
    return _join(_etree_nodes(body, ET.Comment))


def _html5lib_decode(data: bytes) -> str:
    body = _optional("html5lib").parse(data, namespaceHTMLElements=False).find("body")
    return "".join(body.itertext())


def _lxml_parse(html: str) -> Any:
    return _optional("lxml.html").document_fromstring(html)


def _lxml_outline(html: str) -> str:
    body = _lxml_parse(html).find("body")
    comment = _optional("lxml.etree").Comment
    return _join(_etree_nodes(body, comment)) if body is not None else ""


def _lxml_decode(data: bytes) -> str:
    body = _optional("lxml.html").document_fromstring(data).find("body")
    return str(body.text_content()) if body is not None else ""


# --- markupever (html5ever) ---------------------------------------------------------------
def _markupever_parse(html: str) -> Any:
    markupever = _optional("markupever")
    return markupever.parse(html, markupever.HtmlOptions())


def _markupever_nodes(node: Any) -> Iterator[str]:
    dom = _optional("markupever.dom")
    for child in node.children():
        if isinstance(child, dom.Text):
            yield _text(child.content)
        elif isinstance(child, dom.Comment):
            yield f"<!--{child.content}-->"
        elif isinstance(child, dom.Element):
            name = child.name.local
            tag = f"svg:{name}" if child.name.ns == "http://www.w3.org/2000/svg" else name
            inner = _join(_markupever_nodes(child))
            if name == "template":
                yield f"{tag}[{inner}]"
            else:
                yield f"{tag}({inner})" if inner else tag


def _markupever_outline(html: str) -> str:
    root = _markupever_parse(html).root()
    body = root.select_one("body")
    return _join(_markupever_nodes(body)) if body is not None else ""


# --- justhtml (pure Python) ---------------------------------------------------------------
def _justhtml_parse(html: str) -> Any:
    return _optional("justhtml").JustHTML(html, sanitize=False)


def _justhtml_nodes(node: Any) -> Iterator[str]:
    for child in node.children or []:
        if child.name == "#text":
            yield _text(child.data or "")
        elif child.name == "#comment":
            yield f"<!--{child.data}-->"
        else:
            tag = f"svg:{child.name}" if child.namespace == "svg" else child.name
            if child.name == "template" and child.template_content is not None:
                yield f"{tag}[{_join(_justhtml_nodes(child.template_content))}]"
            else:
                inner = _join(_justhtml_nodes(child))
                yield f"{tag}({inner})" if inner else tag


def _justhtml_outline(html: str) -> str:
    body = _justhtml_parse(html).query_one("body")
    return _join(_justhtml_nodes(body)) if body is not None else ""


def _justhtml_decode(data: bytes) -> str:
    body = _optional("justhtml").JustHTML(data, sanitize=False).query_one("body")
    return str(body.to_text(separator="", strip=False)) if body is not None else ""


# --- the engine's decoder, for the encoding rows ------------------------------------------
def _veritas_decode(data: bytes) -> str:
    text, _ = decode_html(data, "")
    return text


CANDIDATES = [
    Candidate("selectolax (Lexbor)", "selectolax", _lexbor_parse, _lexbor_outline),
    Candidate("html5lib", "html5lib", _html5lib_parse, _html5lib_outline, _html5lib_decode),
    Candidate("lxml (libxml2 HTML)", "lxml", _lxml_parse, _lxml_outline, _lxml_decode),
    Candidate("markupever (html5ever)", "markupever", _markupever_parse, _markupever_outline),
    Candidate("justhtml", "justhtml", _justhtml_parse, _justhtml_outline, _justhtml_decode),
]


def installed(candidate: Candidate) -> bool:
    return importlib.util.find_spec(candidate.module) is not None


# --- page sets ----------------------------------------------------------------------------
def page_sets(sites_dir: Path = SITES) -> dict[str, list[str]]:
    """The corpus's static pages and its generated pages, decoded as the engine decodes them."""
    static: list[str] = []
    generated: list[str] = []
    for site in discover_sites([sites_dir]).values():
        for path in sorted(site.root.rglob("*.htm*")):
            if not any(part.startswith("_") for part in path.relative_to(site.root).parts):
                static.append(decode_html(path.read_bytes(), "")[0])
        for rule in site.rules:
            if rule.generate is not None and rule.generate["kind"] == "repeat":
                generated.append(decode_html(generate_body(site, rule.generate)[0], "")[0])
    return {"corpus static pages": static, "corpus generated pages": generated}


def measure(
    candidates: list[Candidate], pages: dict[str, list[str]], repeats: int
) -> dict[str, dict[str, float]]:
    """MB/s per candidate per page set: the best of *repeats* interleaved rounds."""
    best: dict[str, dict[str, float]] = {c.name: {} for c in candidates}
    sizes = {
        name: sum(len(p.encode("utf-8", "surrogatepass")) for p in ps) for name, ps in pages.items()
    }
    for _ in range(repeats):
        for set_name, set_pages in pages.items():
            for candidate in candidates:
                start = time.perf_counter()
                for page in set_pages:
                    candidate.parse(page)
                rate = sizes[set_name] / 1e6 / (time.perf_counter() - start)
                best[candidate.name][set_name] = max(best[candidate.name].get(set_name, 0), rate)
    return best


def conformance(candidate: Candidate) -> dict[str, str]:
    """Per conformance case: "ok", or what the candidate built instead."""
    out: dict[str, str] = {}
    for name, html, expected in CONFORMANCE:
        got = candidate.outline(html)
        out[name] = "ok" if got == expected else f"got {got}"
    for name, data, text in ENCODINGS:
        if candidate.decode is None:
            out[name] = "n/a (parses decoded text)"
            continue
        got = candidate.decode(data)
        out[name] = "ok" if text in got else f"got {got!r}"
    return out


def engine_rate(pages: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """MB/s of the engine's whole ``parse_html`` (the tree and the extraction on it)."""
    engine = Candidate(
        "veritas parse_html", "veritas", lambda h: parse_html(h, "http://x.test/"), str
    )
    return measure([engine], pages, repeats)[engine.name]


def run(repeats: int) -> dict[str, Any]:
    pages = page_sets()
    ready = [c for c in CANDIDATES if installed(c)]
    rates = measure(ready, pages, repeats)
    return {
        "python": sys.version.split()[0],
        "repeats": repeats,
        "page_sets": {
            name: {"pages": len(ps), "mb": round(sum(len(p.encode()) for p in ps) / 1e6, 2)}
            for name, ps in pages.items()
        },
        "candidates": {
            c.name: (
                {
                    "mb_per_s": {k: round(v, 2) for k, v in rates[c.name].items()},
                    "conformance": conformance(c),
                }
                if installed(c)
                else {"missing": f"not installed (pip install {c.module})"}
            )
            for c in CANDIDATES
        },
        "engine": {k: round(v, 2) for k, v in engine_rate(pages, repeats).items()},
        "encodings_by_engine_decoder": {
            name: "ok" if text in _veritas_decode(data) else "wrong"
            for name, data, text in ENCODINGS
        },
    }


def table(result: dict[str, Any]) -> str:
    sets = list(result["page_sets"])
    lines = [
        f"Python {result['python']}, best of {result['repeats']} rounds; "
        + "; ".join(
            f"{k}: {v['pages']} pages, {v['mb']} MB" for k, v in result["page_sets"].items()
        ),
        "",
        "| parser | " + " | ".join(f"{s} MB/s" for s in sets) + " | conformance |",
        "|---|" + "---|" * len(sets) + "---|",
    ]
    notes: list[str] = []
    for name, entry in result["candidates"].items():
        if "missing" in entry:
            lines.append(
                f"| {name} | " + " | ".join("-" for _ in sets) + f" | {entry['missing']} |"
            )
            continue
        checks = entry["conformance"]
        judged = [v for v in checks.values() if not v.startswith("n/a")]
        passed = sum(v == "ok" for v in judged)
        rates = " | ".join(f"{entry['mb_per_s'][s]:.2f}" for s in sets)
        lines.append(f"| {name} | {rates} | {passed}/{len(judged)} |")
        notes += [
            f"- {name}, {case}: {verdict}"
            for case, verdict in checks.items()
            if verdict != "ok" and not verdict.startswith("n/a")
        ]
    engine = " | ".join(f"{result['engine'][s]:.2f}" for s in sets)
    lines.append(f"| (the engine's parse_html, tree and extraction) | {engine} | |")
    lines += ["", "Where a candidate differs from the standard:"] + (notes or ["- nowhere"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.tools.parserbench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="rounds; the best counts (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats is {args.repeats}; accepted: an integer of at least 1")
    result = run(args.repeats)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
