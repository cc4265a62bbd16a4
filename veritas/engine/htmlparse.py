"""From page bytes to a ``PageDocument``: decoded text, structure, and a selector per element.

``html.parser`` does not build a tree or imply end tags, so this module keeps its own stack,
closes ``p``/``li``/``option``… implicitly the way browsers do, and ignores stray end tags.

Text is never normalised beyond collapsing *ASCII* whitespace (the HTML definition):
``str.split()`` would also eat U+2028/U+2029 and U+0085, which must reach events unchanged.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

ASCII_WS = " \t\n\f\r"
_WS = re.compile(r"[ \t\n\f\r]+")

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
HIDDEN_CONTENT = frozenset({"script", "style", "noscript", "template", "head", "title", "svg"})
BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
        "caption",
        "button",
        "label",
        "select",
        "option",
        "textarea",
    ]
)
#: Opening one of these closes an open element of the listed tags (the parser's implied ends).
_IMPLIED_END = {
    "p": {"p"},
    "li": {"li"},
    "option": {"option"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "tr": {"tr", "td", "th"},
    "td": {"td", "th"},
    "th": {"td", "th"},
}
_CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
        "fieldset",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "main",
        "nav",
        "ol",
        "pre",
        "section",
        "table",
        "ul",
    ]
)


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
    tag: str
    selector: str
    words: str
    hidden: bool
    children: dict[str, int] = field(default_factory=dict)
    buffer: list[str] = field(default_factory=list)
    link_chars: int = 0
    href: str = ""
    link_selector: str = ""


_HEAD_CONTENT = frozenset(
    "head title meta link script style base noscript template".split()  # noqa: SIM905
)


def hidden_by_svg(stack: list[_Open]) -> bool:
    return any(entry.tag == "svg" for entry in stack)


_TIMER_WORDS = re.compile(r"count-?down|timer|clock|expire", re.I)


class _Parser(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = PageDocument(base_url=url)
        self.stack: list[_Open] = [_Open("#root", "", "", False)]
        self.in_title = False
        self.title_seen = False
        self.base_seen = False
        self.title_parts: list[str] = []
        self.script_parts: list[str] | None = None
        self.form: Form | None = None
        self.link: Link | None = None
        self.label_for: dict[str, str] = {}
        self.label_stack: list[tuple[str, list[Field]]] = []

    # -- helpers -------------------------------------------------------------------------
    def _resolve(self, href: str) -> str:
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

    def _selector_for(self, tag: str, attrs: dict[str, str], parent: _Open) -> str:
        if tag in ("html", "head", "body"):
            return tag
        if attrs.get("id"):
            return f"{tag}#{attrs['id']}"
        count = parent.children.get(tag, 0) + 1
        parent.children[tag] = count
        part = f"{tag}:nth-of-type({count})"
        return f"{parent.selector} > {part}" if parent.selector else part

    def _hidden(self) -> bool:
        return self.stack[-1].hidden

    def _flush(self, entry: _Open) -> None:
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

    def _block_owner(self) -> _Open:
        for entry in reversed(self.stack):
            if entry.tag in BLOCK or entry.tag == "#root":
                return entry
        return self.stack[0]

    def _close(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                while len(self.stack) > depth:
                    self._pop()
                return

    def _pop(self) -> None:
        entry = self.stack.pop()
        if entry.tag in BLOCK:
            self._flush(entry)
        if entry.tag == "a" and self.link is not None:
            self.link.text = collapse(self.link.text)
            self.doc.links.append(self.link)
            self.link = None
        elif entry.tag == "form":
            self.form = None
        elif entry.tag == "title":
            self.in_title = False
            self.title_seen = True
        elif entry.tag == "script" and self.script_parts is not None:
            self.doc.inline_scripts.append("".join(self.script_parts))
            self.script_parts = None
        elif entry.tag == "label" and self.label_stack:
            text, fields = self.label_stack.pop()
            for control in fields:
                control.label = control.label or collapse(text)

    # -- HTMLParser callbacks --------------------------------------------------------------
    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = {name: (value or "") for name, value in attr_list}
        for closing in _IMPLIED_END.get(tag, ()):
            if any(entry.tag == closing for entry in self.stack[1:]):
                self._close(closing)
        if tag in _CLOSES_P and any(entry.tag == "p" for entry in self.stack[1:]):
            self._close("p")
        if tag not in _HEAD_CONTENT and any(entry.tag == "head" for entry in self.stack[1:]):
            self._close("head")  # content before </head> (or without it) starts the body
        if tag == "br":
            self.handle_data(" ")
        parent = self.stack[-1]
        selector = self._selector_for(tag, attrs, parent)
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
            self._flush(self._block_owner())
        self._element(tag, attrs, selector, words, hidden)
        if tag not in VOID:
            self.stack.append(_Open(tag, selector, words, hidden))
            if tag == "label":
                self.label_stack.append(("", []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._close(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            self.handle_data("\n")
            return
        self._close(tag)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title_parts.append(data)
            return
        if self.script_parts is not None:
            self.script_parts.append(data)
            return
        if self._hidden():
            return
        owner = self._block_owner()
        owner.buffer.append(data)
        if self.link is not None:
            self.link.text += data
            owner.link_chars += len(data.strip()) if data.strip() else 0
            if not owner.href:
                owner.href, owner.link_selector = self.link.href, self.link.selector
        if self.label_stack:
            text, fields = self.label_stack[-1]
            self.label_stack[-1] = (text + data, fields)

    # -- elements ------------------------------------------------------------------------
    def _element(
        self, tag: str, attrs: dict[str, str], selector: str, words: str, hidden: bool
    ) -> None:
        doc = self.doc
        if _TIMER_WORDS.search(attrs.get("class", "") + " " + attrs.get("id", "")):
            doc.timer_selectors.append(selector)
        if tag == "title" and not self.title_seen and not hidden_by_svg(self.stack):
            self.in_title = True
        elif tag == "base" and attrs.get("href") and not self.base_seen:
            self.base_seen = True
            doc.base_url = self._resolve(attrs["href"]) or doc.base_url
        elif tag == "meta":
            entry: dict[str, str] = {
                k: attrs[k]
                for k in ("name", "property", "http-equiv", "charset", "content")
                if k in attrs
            }
            if entry:
                doc.meta.append(entry)
        elif tag == "a":
            if self.link is not None:
                self.link.text = collapse(self.link.text)
                doc.links.append(self.link)
            raw = attrs.get("href", "")
            href = self._resolve(raw) if "href" in attrs else ""
            self.link = Link(href, raw, "", attrs.get("rel", "").lower(), selector, words)
        elif tag == "script":
            if attrs.get("src"):
                doc.resources.append(Resource("script", self._resolve(attrs["src"]), selector))
            else:
                self.script_parts = []
        elif tag == "link" and "stylesheet" in attrs.get("rel", "").lower() and attrs.get("href"):
            doc.resources.append(Resource("stylesheet", self._resolve(attrs["href"]), selector))
        elif tag in ("iframe", "img", "embed", "video", "audio", "source") and attrs.get("src"):
            doc.resources.append(Resource(tag, self._resolve(attrs["src"]), selector))
        elif tag == "form":
            action = self._resolve(attrs["action"]) if attrs.get("action") else doc.base_url
            self.form = Form(len(doc.forms), action, attrs.get("method", "get").lower(), selector)
            doc.forms.append(self.form)
        elif tag in ("input", "select", "textarea", "button"):
            self._field(tag, attrs, selector, hidden)
        elif tag == "label" and attrs.get("for"):
            self.label_for[selector] = attrs["for"]

    def _field(self, tag: str, attrs: dict[str, str], selector: str, hidden: bool) -> None:
        kind = attrs.get("type", "text").lower() if tag == "input" else tag
        control = Field(
            kind=kind,
            name=attrs.get("name", ""),
            value=attrs.get("value", ""),
            checked="checked" in attrs or "selected" in attrs,
            selector=selector,
            form_index=self.form.index if self.form is not None else -1,
            id=attrs.get("id", ""),
            placeholder=attrs.get("placeholder", ""),
            hidden=hidden or kind == "hidden",
        )
        self.doc.fields.append(control)
        if self.form is not None:
            self.form.fields.append(control)
        if self.label_stack:
            self.label_stack[-1][1].append(control)
        if not control.hidden and tag != "button":
            self.doc.flow.append(control)


def parse_html(text: str, url: str) -> PageDocument:
    parser = _Parser(url)
    parser.feed(text)
    parser.close()
    while len(parser.stack) > 1:
        parser._pop()
    parser._flush(parser.stack[0])
    doc = parser.doc
    doc.title = collapse("".join(parser.title_parts))
    if parser.link is not None:
        parser.link.text = collapse(parser.link.text)
        doc.links.append(parser.link)
    # <label for=id> text, found after the whole page is read (the label may come first).
    labels = {block.selector: block.text for block in doc.blocks if block.kind == "label"}
    by_id = {control.id: control for control in doc.fields if control.id}
    for selector, target in parser.label_for.items():
        if target in by_id and selector in labels and not by_id[target].label:
            by_id[target].label = labels[selector]
    return doc
