"""The ``harness`` command's parser: ``--report-dir`` on either side of the subcommand, and
help for every subcommand and option (``harness X --help`` is complete)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cliargs import build_parser
from harness.paths import DEFAULT_REPORTS
from veritas.cli import build_parser as veritas_parser

#: The smallest valid command line of each subcommand that reads or writes under the report
#: directory (the ledger, reports, tool results).
USES_REPORT_DIR = {
    "review": [],
    "status": [],
    "gate": ["--to", "0.25"],
    "advance": ["--to", "0.25", "--by", "bob", "--reason", "validated"],
    "halt": ["--by", "bob", "--reason", "why"],
    "resume": ["--by", "bob"],
    "rollback": ["--to", "0.1", "--by", "bob", "--reason", "why"],
    "cohorts": [],
    "migrate-ledger": ["--by", "bob"],
    "merge": ["run-a", "run-b"],
    "nightly": [],
    "failover": [],
    "killtest": [],
    "flakes": [],
    "bench ipc": [],
    "bench harness": [],
}


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser that takes no further subcommand, with its name path."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def _all(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _all(child, (*path, name))


@pytest.mark.parametrize("command", sorted(USES_REPORT_DIR))
def test_report_dir_is_accepted_before_and_after_the_subcommand(command: str) -> None:
    argv = [*command.split(), *USES_REPORT_DIR[command]]
    parse = build_parser().parse_args
    assert parse(argv).report_dir == DEFAULT_REPORTS
    assert parse(["--report-dir", "before", *argv]).report_dir == Path("before")
    assert parse([*argv, "--report-dir", "after"]).report_dir == Path("after")
    # Both: the one nearer the command wins, as a later option does.
    assert parse(["--report-dir", "a", *argv, "--report-dir", "b"]).report_dir == Path("b")


def test_exactly_the_subcommands_that_use_the_report_dir_take_it() -> None:
    taking = {
        " ".join(path)
        for path, parser in _leaves(build_parser())
        if any("--report-dir" in a.option_strings for a in parser._actions)
    }
    assert taking == set(USES_REPORT_DIR)


def test_the_report_dir_after_the_subcommand_is_the_one_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    assert main(["migrate-ledger", "--by", "bob", "--report-dir", str(tmp_path)]) == 1
    assert f"no {tmp_path / 'ROLLOUT.yaml'}" in capsys.readouterr().out


@pytest.mark.parametrize("parser", [build_parser(), veritas_parser()], ids=["harness", "veritas"])
def test_every_subcommand_and_option_has_help(parser: argparse.ArgumentParser) -> None:
    missing = []
    for path, command in _all(parser):
        name = " ".join((parser.prog, *path))
        if not command.description:
            missing.append(f"{name}: no description")
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions}
                missing += [f"{name} {sub}: no help" for sub in action.choices if sub not in listed]
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    assert missing == []


def test_the_help_check_can_fail() -> None:
    bare = argparse.ArgumentParser(prog="toy", description="a toy")
    bare.add_subparsers().add_parser("sub", description="a sub").add_argument("--flag")
    with pytest.raises(AssertionError, match="toy sub: no help"):
        test_every_subcommand_and_option_has_help(bare)


def test_nightly_help_describes_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["nightly", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--stage S the stage to validate (default: $QUEUE_IPC_ROLLOUT)" in out
    # Python 3.13's argparse names the metavar once: "-n, --workers N"; 3.11 "-n N, --workers N".
    workers = r"-n( N)?, --workers N pytest-xdist workers: a number or auto \(default auto\)"
    assert re.search(workers, out), out
    assert "--report-dir DIR" in out
