"""From page text to a ``PageDocument``: visible text blocks, links, forms, resources, selectors.

The tree is built by Lexbor (through selectolax), an HTML5 parser that follows the standard's
tree construction: implied end tags, misnested formatting (the adoption agency), foster
parenting out of tables, ``<template>`` contents kept out of the document, ``</br>`` read as
``<br>``. So the elements and their selectors are the ones a browser's DOM has, and the
selectors below find the same elements in Chromium. What a browser would not show or use is
left out: the contents of a ``<template>`` are inert (no link in it is followed, no script in
it is loaded), and NUL characters in text are dropped as the parser drops them.

This module only walks that tree, once, in document order, and keeps what the rules read.
Text is never normalised beyond collapsing *ASCII* whitespace (the HTML definition):
``str.split()`` would also eat U+2028/U+2029 and U+0085, which must reach events unchanged.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from veritas.engine.fetch import usv_string

ASCII_WS = " \t\n\f\r"
_WS = re.compile(r"[ \t\n\f\r]+")

#: Elements whose text is never shown (the whole subtree of each).
HIDDEN_CONTENT = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
#: Elements that start a text block of their own: their text is one ``Block``.
BLOCK = frozenset(
    "address article aside blockquote body dd details dialog div dl dt fieldset "  # noqa: SIM905
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section "
    "summary table td th tr ul caption button label select option textarea".split()
)
#: Labelable form controls (the standard's list, among the controls kept here).
_LABELABLE = frozenset({"button", "input", "select", "textarea"})
_TIMER_WORDS = re.compile(r"count-?down|timer|clock|expire", re.I)
_RESOURCE_TAGS = frozenset({"iframe", "img", "embed", "video", "audio", "source"})


def collapse(text: str) -> str:
    return _WS.sub(" ", text).strip(" ")  # not .strip(): it would eat U+2028 and friends


@dataclass
class Field:
    """A form control as a user sees it."""

    kind: str  # input type, or select/textarea/button
    name: str
    value: str
    checked: bool
    selector: str
    form_index: int  # -1 when outside any form
    label: str = ""
    id: str = ""
    placeholder: str = ""
    hidden: bool = False


@dataclass
class Form:
    index: int
    action: str  # resolved
    method: str
    selector: str
    fields: list[Field] = field(default_factory=list)


@dataclass
class Block:
    """A run of visible text under one block-level element, in document order."""

    kind: str  # the block element's tag, or "link" when all its text is link text
    text: str
    selector: str
    classes: str  # the class/id words of the block and its ancestors (for ad detection)
    href: str = ""


@dataclass
class Link:
    href: str  # resolved
    raw: str
    text: str
    rel: str
    selector: str
    classes: str


@dataclass
class Resource:
    kind: str  # script, stylesheet, iframe, img
    url: str  # resolved
    selector: str


@dataclass
class PageDocument:
    title: str = ""
    base_url: str = ""
    meta: list[dict[str, str]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    flow: list[Block | Field] = field(default_factory=list)
    timer_selectors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.blocks)


@dataclass
class _Open:
    """An element on the path from the root to the node being visited."""

    tag: str
    selector: str
    words: str
    hidden: bool
    svg: bool  # inside <svg>: its <title> is not the document's
    form: Form | None
    children: dict[str, int] = field(default_factory=dict)
    # For a block element: its text so far, and the link that text belongs to.
    buffer: list[str] = field(default_factory=list)
    link_chars: int = 0
    href: str = ""
    link_selector: str = ""
    # For an <a>: the link; for a <label>: its text and the control it labels.
    link: Link | None = None
    label: list[str] | None = None
    labelled: Field | None = None
    label_for: str = ""


def _walk(root: LexborNode) -> Iterator[tuple[bool, LexborNode]]:
    """(True, node) on entering and (False, node) on leaving *root* and each node below it.

    Iterative, so a page nested a hundred thousand deep does not exhaust Python's stack. A
    ``<template>``'s children are not here: they are in its content fragment, outside the tree.
    """
    node: LexborNode | None = root
    depth = 0
    while node is not None:
        yield True, node
        child = node.child
        if child is not None:
            node, depth = child, depth + 1
            continue
        while node is not None:
            yield False, node
            following = node.next
            if following is not None:
                node = following
                break
            depth -= 1
            node = node.parent if depth >= 0 else None


class _Extractor:
    def __init__(self, url: str) -> None:
        self.doc = PageDocument(base_url=url)
        self.stack: list[_Open] = [_Open("#root", "", "", False, False, None)]
        self.title: str | None = None
        self.link: Link | None = None  # the innermost open link
        self.open_labels: list[_Open] = []
        self.labels: list[_Open] = []  # closed, inner before outer

    def resolve(self, href: str) -> str:
        """The absolute URL, or "" for one that cannot be parsed (``http://[x``, port 99999).

        Every URL the rules see has been through here, so they may parse it without guards.
        """
        try:
            url = urllib.parse.urljoin(self.doc.base_url, href.strip(ASCII_WS))
            urllib.parse.urldefrag(url)
            _ = urllib.parse.urlsplit(url).port
        except ValueError:
            return ""
        return url

    def run(self, tree: LexborHTMLParser) -> PageDocument:
        # The document's base URL is its first <base href>, wherever the element stands.
        base = tree.css_first("base[href]")
        if base is not None:
            self.doc.base_url = self.resolve(base.attributes.get("href") or "") or self.doc.base_url
        for entering, node in _walk(tree.root) if tree.root is not None else ():
            if node.is_text_node:
                if entering:
                    self.text(node.text_content or "")
            elif not node.is_element_node:
                continue  # comments
            elif entering:
                self.enter(node.tag or "", node)
            else:
                self.leave()
        self.flush(self.stack[0])
        self.doc.title = collapse(self.title or "")
        self.label_by_id()
        return self.doc

    # -- the walk ----------------------------------------------------------------------------
    def enter(self, tag: str, node: LexborNode) -> None:
        attrs = {name: value or "" for name, value in node.attributes.items()}
        parent = self.stack[-1]
        selector = self.selector_for(tag, attrs, parent)
        words = " ".join(
            x for x in (parent.words, attrs.get("class", ""), attrs.get("id", "")) if x
        )
        style = attrs.get("style", "").replace(" ", "").lower()
        hidden = (
            parent.hidden
            or tag in HIDDEN_CONTENT
            or "hidden" in attrs
            or "display:none" in style
            or "visibility:hidden" in style
        )
        if tag in BLOCK:
            self.flush(self.block_owner())
        if tag == "br":
            self.text(" ")
        entry = _Open(tag, selector, words, hidden, parent.svg or tag == "svg", parent.form)
        self.stack.append(entry)
        self.element(entry, attrs, node)

    def leave(self) -> None:
        entry = self.stack.pop()
        if entry.tag in BLOCK:
            self.flush(entry)
        if entry.link is not None:
            entry.link.text = collapse(entry.link.text)
            self.doc.links.append(entry.link)
            self.link = next((e.link for e in reversed(self.stack) if e.link), None)
        if entry.label is not None:
            self.labels.append(self.open_labels.pop())

    def text(self, data: str) -> None:
        entry = self.stack[-1]
        if entry.hidden:
            return
        owner = self.block_owner()
        owner.buffer.append(data)
        if self.link is not None:
            self.link.text += data
            owner.link_chars += len(data.strip())
            if not owner.href:
                owner.href, owner.link_selector = self.link.href, self.link.selector
        if self.open_labels:
            label = self.open_labels[-1].label
            assert label is not None
            label.append(data)

    def selector_for(self, tag: str, attrs: dict[str, str], parent: _Open) -> str:
        if tag in ("html", "head", "body"):
            return tag
        if attrs.get("id"):
            return f"{tag}#{attrs['id']}"
        count = parent.children.get(tag, 0) + 1
        parent.children[tag] = count
        part = f"{tag}:nth-of-type({count})"
        return f"{parent.selector} > {part}" if parent.selector else part

    def block_owner(self) -> _Open:
        for entry in reversed(self.stack):
            if entry.tag in BLOCK:
                return entry
        return self.stack[0]

    def flush(self, entry: _Open) -> None:
        if not entry.buffer:
            return  # most blocks hold only other blocks: nothing to collapse
        text = collapse("".join(entry.buffer))
        if text and not entry.hidden:
            all_link = entry.link_chars >= len("".join(entry.buffer).strip())
            if all_link and entry.href:
                block = Block("link", text, entry.link_selector, entry.words, entry.href)
            else:
                block = Block(entry.tag, text, entry.selector, entry.words)
            self.doc.blocks.append(block)
            self.doc.flow.append(block)
        entry.buffer.clear()
        entry.link_chars = 0
        entry.href = ""
        entry.link_selector = ""

    # -- what each element contributes -------------------------------------------------------
    def element(self, entry: _Open, attrs: dict[str, str], node: LexborNode) -> None:
        doc, tag, selector = self.doc, entry.tag, entry.selector
        if _TIMER_WORDS.search(attrs.get("class", "") + " " + attrs.get("id", "")):
            doc.timer_selectors.append(selector)
        if tag == "title" and self.title is None and not entry.svg:
            self.title = node.text(deep=True)
        elif tag == "meta":
            found: dict[str, str] = {
                k: attrs[k]
                for k in ("name", "property", "http-equiv", "charset", "content")
                if k in attrs
            }
            if found:
                doc.meta.append(found)
        elif tag == "a":
            raw = attrs.get("href", "")
            href = self.resolve(raw) if "href" in attrs else ""
            self.link = entry.link = Link(
                href, raw, "", attrs.get("rel", "").lower(), selector, entry.words
            )
        elif tag == "script":
            if attrs.get("src"):
                doc.resources.append(Resource("script", self.resolve(attrs["src"]), selector))
            else:
                doc.inline_scripts.append(node.text(deep=True))
        elif tag == "link" and "stylesheet" in attrs.get("rel", "").lower() and attrs.get("href"):
            doc.resources.append(Resource("stylesheet", self.resolve(attrs["href"]), selector))
        elif tag in _RESOURCE_TAGS and attrs.get("src"):
            doc.resources.append(Resource(tag, self.resolve(attrs["src"]), selector))
        elif tag == "form":
            action = self.resolve(attrs["action"]) if attrs.get("action") else doc.base_url
            entry.form = Form(len(doc.forms), action, attrs.get("method", "get").lower(), selector)
            doc.forms.append(entry.form)
        elif tag in _LABELABLE:
            self.control(entry, attrs)
        elif tag == "label":
            entry.label, entry.label_for = [], attrs.get("for", "")
            self.open_labels.append(entry)

    def control(self, entry: _Open, attrs: dict[str, str]) -> None:
        tag = entry.tag
        kind = attrs.get("type", "text").lower() if tag == "input" else tag
        form = entry.form
        control = Field(
            kind=kind,
            name=attrs.get("name", ""),
            value=attrs.get("value", ""),
            checked="checked" in attrs or "selected" in attrs,
            selector=entry.selector,
            form_index=form.index if form is not None else -1,
            id=attrs.get("id", ""),
            placeholder=attrs.get("placeholder", ""),
            hidden=entry.hidden or kind == "hidden",
        )
        self.doc.fields.append(control)
        if form is not None:
            form.fields.append(control)
        if kind != "hidden":
            # A label without ``for`` labels its first labelable descendant.
            for label in self.open_labels:
                if not label.label_for and label.labelled is None:
                    label.labelled = control
        if not control.hidden and tag != "button":
            self.doc.flow.append(control)

    def label_by_id(self) -> None:
        """Give each control the text of its first label (``for=id``, or around it)."""
        by_id: dict[str, Field] = {}
        for control in reversed(self.doc.fields):
            by_id[control.id] = control  # the first control with an id wins
        for label in self.labels:  # in the order they were closed: inner before outer
            target = by_id.get(label.label_for) if label.label_for else label.labelled
            if target is not None and not target.label and label.label is not None:
                target.label = collapse("".join(label.label))


def parse_html(text: str, url: str) -> PageDocument:
    # Lexbor reads UTF-8: a lone surrogate (which no decoder yields, but a caller's text may
    # hold) becomes U+FFFD first, as a browser's USVString conversion does.
    tree = LexborHTMLParser(usv_string(text))
    return _Extractor(url).run(tree)
