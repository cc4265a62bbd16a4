"""The Jinja2 environments the review page and ``summary.md`` render with.

The templates are files of the package (``harness/report/templates/``). Every value a
template prints passes one gate, the environment's ``finalize``, whatever the template says:

- HTML (``*.html``): the value is made ``visible`` (surrogates, NUL, U+2028, a BOM written as
  escapes) and then autoescaped, so no string from an audited site reaches the page as markup.
- Markdown (``*.md``): the value is made ``visible``, put on one line and its Markdown
  punctuation backslash-escaped (pipes cannot end a table cell, ``<`` cannot open HTML, ``*``
  cannot start emphasis). Markdown written on purpose (a code span) is ``Markup``.

Only ``Markup`` made here, from our own text, is printed as it is.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from veritas.parent.console import visible

#: The characters Markdown could read as syntax inside a line (CommonMark lets any ASCII
#: punctuation be backslash-escaped; these are the ones that start or end something). An
#: underscore between two letters or digits cannot (``case_id`` stays readable as text).
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~&#!]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def _html_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    return visible(str(value))


def md_text(value: Any) -> str:
    """*value* as inline Markdown text: visible, one line, its punctuation escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(), _LINE_BREAKS.sub(" ", visible(str(value))))


def _md_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    return md_text(value)


def md_code(value: Any) -> Markup:
    """*value* as a Markdown code span (its text literal, fenced by more backticks than it
    holds); pipes stay escaped, since a table cell ends at any unescaped pipe."""
    text = _LINE_BREAKS.sub(" ", visible(str(value)))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Markup(f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}")


def _environment(**options: Any) -> Environment:
    """The package's templates, strict about undefined names, block tags leaving no blank lines."""
    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        **options,
    )


@cache
def html_environment() -> Environment:
    return _environment(autoescape=True, finalize=_html_value)


@cache
def markdown_environment() -> Environment:
    env = _environment(autoescape=False, finalize=_md_value, keep_trailing_newline=True)
    env.filters["code"] = md_code
    return env


def template_source(name: str) -> str:
    """A template file's text as shipped (the page's style and script, embedded verbatim)."""
    loader = html_environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(html_environment(), name)
    return source
