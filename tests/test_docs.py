"""Every command line the documentation shows is one the real parsers accept.

The documentation is README.md and docs/*.md. A command line is a line of a shell code block
(```sh, bash, shell or console) that starts with ``veritas ``, ``harness `` or ``pytest
harness/`` (a ``\\`` at the end of a line continues it). A line may be a synopsis: ``[...]``
is optional, ``a|b`` and ``[x | y]`` are alternatives, ``...`` repeats, ``A / B`` is two
commands, UPPERCASE words are placeholders (a sample value from ``PLACEHOLDERS``; an unknown
one fails, naming it), ``# ...`` is a comment. Each line is checked in several forms: with no
optional part, with each alternative of each part on its own, and with every optional part.

``veritas`` and ``harness`` lines are parsed by their argparse parsers, which run nothing;
``pytest harness/`` lines by pytest with the harness plugin's options (parsing only: nothing
is collected or run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cliargs import build_parser as harness_parser
from veritas.cli import build_parser as veritas_parser

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
PROGRAMS = ("veritas ", "harness ", "pytest harness/")

#: A sample value for each placeholder the documentation uses.
PLACEHOLDERS = {
    "NAME": "ann",
    "ID": "clean_blog",
    "TEXT": "a reason",
    "PATH": "metrics.sqlite3",
    "URL": "http://127.0.0.1:9090",
    "ISO": "2026-01-01T00:00:00+00:00",
    "S": "0.25",
    "N": "5",
    "K": "3",
    "R": "100",
    "DIR": "out",
    "RUN": "reports/stage-0.1/run-a",
    "RUN1": "reports/stage-0.1/run-a",
    "RUN2": "reports/stage-0.1/run-b",
    "K/N": "1/2",
    "SEED": "7",
    "SECONDS": "60",
    "MODULE:FUNCTION": "sitecheck:audit",
}


@dataclass(frozen=True)
class Documented:
    where: str  # file:line
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def documented_commands(paths: list[Path] = DOCS, root: Path = ROOT) -> list[Documented]:
    found = []
    for path in paths:
        lang: str | None = None  # inside a code block: its language
        pending = ""
        start = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fence = re.match(r"\s*```(\S*)", line)
            if fence:
                lang = None if lang is not None else fence.group(1)
                continue
            if lang not in SHELL:
                continue
            if not pending:
                start = number
            pending += line.strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            if pending.startswith(PROGRAMS):
                found.append(Documented(f"{path.relative_to(root)}:{start}", pending))
            pending = ""
    return found


# --- synopsis: [optional], a|b, [x | y], ... -------------------------------------------------

Item = str | tuple[bool, list[list["Item"]]]  # a word, or (optional?, alternatives)


def _items(words: list[str]) -> list[Item]:
    stack: list[list[list[Item]]] = [[[]]]  # open groups; each a list of alternatives
    for raw in words:
        word = raw
        while word.startswith("["):
            stack.append([[]])
            word = word[1:]
        closing = len(word) - len(word.rstrip("]"))
        word = word.rstrip("]")
        if word == "|":
            stack[-1].append([])
        elif word == "...":
            pass  # "the previous argument, repeated": once is enough to check
        elif "|" in word and not word.startswith("-"):
            stack[-1][-1].append((False, [[w] for w in word.split("|")]))
        elif word:
            stack[-1][-1].append(word)
        for _ in range(closing):
            group = stack.pop()
            stack[-1][-1].append((True, group))
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"unbalanced [ ] or a | outside brackets in {' '.join(words)!r}")
    return stack[0][0]


def _render(items: list[Item], pick: dict[int, int | None], base: bool) -> list[str]:
    """Words of *items*: a group picked by id takes that alternative (None: left out);
    the others their first alternative, optional ones only unless *base*."""
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
            continue
        optional, alternatives = item
        chosen = pick.get(id(item), None if optional and base else 0)
        if chosen is not None:
            out += _render(alternatives[chosen], pick, base)
    return out


Group = tuple[bool, list[list[Item]]]


def _groups(
    items: list[Item], within: dict[int, int] | None = None
) -> list[tuple[Group, dict[int, int]]]:
    """Every group, with the picks that bring it into the line (its enclosing alternatives)."""
    within = within or {}
    found = []
    for item in items:
        if not isinstance(item, str):
            found.append((item, within))
            for index, alternative in enumerate(item[1]):
                found += _groups(alternative, {**within, id(item): index})
    return found


def variants(synopsis: str) -> list[list[str]]:
    """The command lines one synopsis stands for (each a list of words, placeholders filled)."""
    words = shlex.split(synopsis.replace("$PWD", str(ROOT)), comments=True)
    commands: list[list[str]] = [[]]
    for word in words:  # "A / B": two commands
        if word == "/":
            commands.append([])
        else:
            commands[-1].append(word)
    lines: list[list[str]] = []
    for command in commands:
        items = _items(command)
        forms = [_render(items, {}, base=True), _render(items, {}, base=False)]
        for group, within in _groups(items):
            for index in range(len(group[1])):
                picks: dict[int, int | None] = {**within, id(group): index}
                forms.append(_render(items, picks, base=True))
        for form in forms:
            filled = [_fill(word) for word in form]
            if filled not in lines:
                lines.append(filled)
    return lines


def _fill(word: str) -> str:
    if "$" in word:
        raise ValueError(f"{word!r}: unknown variable; the check knows $PWD")
    if word in PLACEHOLDERS:
        return PLACEHOLDERS[word]
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", word):
        raise ValueError(f"{word!r}: unknown placeholder; add a sample value to PLACEHOLDERS")
    return word


# --- the parsers -----------------------------------------------------------------------


def _argparse_error(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(argv)
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1]
    return None


def rejection(argv: list[str], pytester: pytest.Pytester | None = None) -> str | None:
    """Why the real parser refuses *argv* (its first word the program), or None."""
    program, rest = argv[0], argv[1:]
    if program == "veritas":
        return _argparse_error(veritas_parser(), rest)
    if program == "harness":
        return _argparse_error(harness_parser(), rest)
    if program == "pytest":
        assert pytester is not None
        try:
            pytester.parseconfig("-p", "harness.plugin.hooks", *rest)
        except pytest.UsageError as exc:
            return str(exc)
        return None
    return f"unknown program {program!r}"


# --- the tests -------------------------------------------------------------------------


def test_the_documentation_shows_commands_of_every_program() -> None:
    commands = documented_commands()
    for program in PROGRAMS:
        assert [c for c in commands if c.text.startswith(program)], program
    assert len(commands) >= 20


@pytest.mark.parametrize("documented", documented_commands(), ids=lambda d: d.where)
def test_every_documented_command_line_parses(
    documented: Documented, pytester: pytest.Pytester
) -> None:
    problems = []
    for argv in variants(documented.text):
        why = rejection(argv, pytester)
        if why is not None:
            problems.append(f"{shlex.join(argv)}: {why}")
    assert problems == [], f"{documented.where}: the parser refuses what the docs show"


def test_a_synopsis_stands_for_each_of_its_forms() -> None:
    forms = variants("harness cohorts [--metrics PATH | --prometheus URL] [--json]  # note")
    assert forms == [
        ["harness", "cohorts"],
        ["harness", "cohorts", "--metrics", "metrics.sqlite3", "--json"],
        ["harness", "cohorts", "--metrics", "metrics.sqlite3"],
        ["harness", "cohorts", "--prometheus", "http://127.0.0.1:9090"],
        ["harness", "cohorts", "--json"],
    ]
    assert variants("harness halt --by NAME / harness resume") == [
        ["harness", "halt", "--by", "ann"],
        ["harness", "resume"],
    ]
    assert ["harness", "bench", "ipc", "--payload", "screenshot"] in variants(
        "harness bench ipc [--payload small|screenshot]"
    )
    with pytest.raises(ValueError, match="'WHO': unknown placeholder"):
        variants("harness halt --by WHO")


def test_the_check_finds_commands_in_shell_blocks_only(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "harness review\n```sh\nharness gate \\\n  --to 0.25\nexport X=1\n```\n"
        "```\nveritas CLI / a worker\n```\n```python\nveritas = 1\n```\n"
    )
    (found,) = documented_commands([doc], root=tmp_path)
    assert (found.where, found.text) == ("doc.md:3", "harness gate --to 0.25")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("harness advance --to 0.3 --by NAME --reason TEXT", "'0.3' is not a rollout stage"),
        ("harness gate --to 0.25 --reason TEXT", "unrecognized arguments: --reason"),
        ("veritas audit ftp://example.org/", "scheme 'ftp' is not supported"),
        ("pytest harness/ --stage 0.2", "--stage"),
        ("pytest harness/ --shard 3/2", "--shard '3/2' is invalid"),
        ("pytest harness/ --through wire", "invalid choice: 'wire'"),
        ("pytest harness/ --no-such-option", "unrecognized arguments: --no-such-option"),
    ],
)
def test_the_check_refuses_what_the_parsers_refuse(
    line: str, fragment: str, pytester: pytest.Pytester
) -> None:
    (argv,) = variants(line)
    why = rejection(argv, pytester)
    assert why is not None and fragment in why
