"""The ``harness`` command's arguments: every subcommand, its options and their help.

Parsing runs nothing, so the documentation's command lines can be checked against it.
``--report-dir`` is accepted before the subcommand and after it, by every subcommand that
reads or writes under it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.paths import DEFAULT_CORPUS, DEFAULT_REPORTS
from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.mode import ConfigError, parse_stage


def _stage(raw: str) -> float:
    try:
        return parse_stage(raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _report_dir(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--report-dir``, accepted before the subcommand and after it (the later one wins)."""
    parser.add_argument(
        "--report-dir",
        type=Path,
        # A subcommand's copy stays out of the namespace unless given, so it never
        # overwrites the value given before the subcommand.
        default=DEFAULT_REPORTS if top else argparse.SUPPRESS,
        metavar="DIR",
        help="where stage reports, the rollout ledger (ROLLOUT.jsonl) and tool results live "
        "(default: reports/ of the checkout)",
    )


def _json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print {what} as one JSON object on stdout; no progress on stderr",
    )


def _corpus(parser: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    if repeatable:
        parser.add_argument(
            "--corpus",
            type=Path,
            action="append",
            default=None,
            metavar="DIR",
            help="corpus directory with cases/ and sites/ (repeatable; default fixtures/)",
        )
    else:
        parser.add_argument(
            "--corpus",
            type=Path,
            default=DEFAULT_CORPUS,
            metavar="DIR",
            help="corpus directory with cases/ and sites/ (default fixtures/)",
        )


def _stage_to(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--to", type=_stage, required=True, metavar="S", help=f"{what}: 0.1, 0.25, 0.5, 0.75 or 1.0"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``harness`` command's parser (parsing runs nothing)."""
    p = argparse.ArgumentParser(
        prog="harness",
        description="Veritas IPC: stage validation, the rollout gate and its ledger, and the "
        "reliability tools. Exit codes: 0 success or gate passed; 1 refused or failed; 2 bad "
        "input.",
    )
    _report_dir(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, help=summary, description=f"{summary}. {details}".strip()
        )
        return parser

    review = command(
        "review",
        "summarise a stage run (default: the latest) and refresh its review page",
        "Exit 0 only if its gate passed; a stale report (other code, corpus or engine) is flagged.",
    )
    review.add_argument(
        "run", nargs="?", type=Path, metavar="RUN", help="a run directory (default: the latest)"
    )
    gate = command(
        "gate",
        "may the rollout advance to a stage now?",
        "Exit 0 if allowed, 1 with the reasons if not.",
    )
    _stage_to(gate, "the stage to enter")
    gate.add_argument("--by", default=None, metavar="NAME", help="check this approver too")
    advance = command(
        "advance",
        "record an advance in the rollout ledger",
        "The gate's checks and the approver's, then one ledger entry and the "
        "QUEUE_IPC_ROLLOUT line to set.",
    )
    _stage_to(advance, "the stage to enter")
    advance.add_argument("--by", required=True, metavar="NAME", help="who approves the advance")
    advance.add_argument("--reason", required=True, metavar="TEXT", help="why, for the ledger")
    cohorts = command(
        "cohorts",
        "production cohorts: Queue against stdout",
        "Exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE.",
    )
    cohorts.add_argument(
        "--since",
        type=_since,
        default="stage-entry",
        metavar="stage-entry|ISO",
        help="from when (default: when the current stage was entered)",
    )
    _json(cohorts, "the cohorts")
    cohorts.add_argument(
        "--simulate", action="store_true", help="the statistics on seeded simulated cohorts"
    )
    cohorts.add_argument(
        "--draws", type=int, default=2000, metavar="N", help="--simulate: draws per row (2000)"
    )
    cohorts.add_argument(
        "--seed", type=int, default=20260301, metavar="SEED", help="--simulate: the seed"
    )
    status = command("status", "the rollout on one screen, and what its next step needs")
    for parser in (review, gate, advance, cohorts, status):
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--metrics",
            type=Path,
            default=None,
            metavar="PATH",
            help="the metrics store (default: $VERITAS_METRICS_DB, else the default store)",
        )
        source.add_argument(
            "--prometheus",
            default=None,
            metavar="URL",
            help="read the cohorts from a Prometheus server instead (its base URL)",
        )
    halt = command("halt", "pause the rollout: the gate refuses until resume")
    resume = command("resume", "lift a halt")
    rollback = command(
        "rollback",
        "record a step back to a lower stage",
        "Always allowed; prints the QUEUE_IPC_ROLLOUT line to set.",
    )
    _stage_to(rollback, "the stage to return to")
    migrate = command("migrate-ledger", "carry ROLLOUT.yaml over into ROLLOUT.jsonl")
    for parser in (halt, resume, rollback, migrate):
        parser.add_argument("--by", required=True, metavar="NAME", help="who decides")
    for parser in (halt, rollback):
        parser.add_argument("--reason", required=True, metavar="TEXT", help="why, for the ledger")
    resume.add_argument("--reason", default=None, metavar="TEXT", help="why, for the ledger")
    for parser in (review, gate, advance, status):
        parser.add_argument(
            "--engine",
            default=None,
            metavar="MODULE:FUNCTION",
            help="the engine the rollout runs; a report made with another is stale "
            f"(default: ${ENGINE_ENV}, else {BUNDLED_ENGINE})",
        )
    merge = command(
        "merge",
        "merge shard runs into one report",
        "Every shard (pytest harness/ --shard K/N) of one run group, each once.",
    )
    merge.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="a shard's run directory")
    nightly = command(
        "nightly",
        "validate the current stage with xdist (what a schedule calls)",
        "Runs pytest harness/ --stage S -n N, which shows its own progress, and exits with "
        "its exit code.",
    )
    nightly.add_argument(
        "--stage",
        type=_stage,
        default=None,
        metavar="S",
        help="the stage to validate (default: $QUEUE_IPC_ROLLOUT)",
    )
    nightly.add_argument(
        "-n",
        "--workers",
        default="auto",
        metavar="N",
        help="pytest-xdist workers: a number or auto (default auto)",
    )
    selftest = command(
        "selftest",
        "inject Queue faults; the harness must catch them",
        "Each fault of VERITAS_IPC_FAULT is injected into the Queue run of a corpus case: "
        "every corrupting one must be caught, no benign one may raise an alarm.",
    )
    _corpus(selftest)
    selftest.add_argument(
        "--case",
        default="clean_shop",
        metavar="ID",
        help="corpus case to inject into (default clean_shop)",
    )
    _json(selftest)
    selftest.add_argument(
        "--through",
        choices=("runner", "ws"),
        default="runner",
        help="the boundary judged: runner (default) or ws (a backend's WebSocket frames)",
    )
    failover = command(
        "failover",
        "sever the Queue at random points; lose nothing",
        "Each point cuts a corpus case's Queue after k events: the streams must be equal, "
        "seq intact, the fallback recorded in the metrics.",
    )
    killtest = command(
        "killtest",
        "SIGKILL the child at random moments; lose nothing it accepted",
        "Corpus audits and bursty synthetic streams, in both modes: every event whose emit "
        "returned must be delivered, in order, once.",
    )
    for parser, what in ((failover, "points"), (killtest, "points per mode")):
        parser.add_argument(
            "--points", type=int, default=50, metavar="N", help=f"how many {what} (default 50)"
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=20261124,
            metavar="SEED",
            help="seed of the random points (default 20261124)",
        )
        _corpus(parser)
        _json(parser)
    flakes = command(
        "flakes",
        "validate the corpus N times clean, count non-matches",
        "Each run is a whole stage validation in its own report directory; any mismatch fails.",
    )
    flakes.add_argument(
        "--runs", type=int, default=20, metavar="N", help="how many validations (default 20)"
    )
    flakes.add_argument(
        "--stage", type=_stage, default=0.1, metavar="S", help="the stage (default 0.1)"
    )
    flakes.add_argument(
        "-n",
        "--workers",
        default="2",
        metavar="N",
        help="pytest-xdist workers per run: a number or auto (default 2)",
    )
    _corpus(flakes, repeatable=True)
    bench = command("bench", "benchmarks (results also under REPORT_DIR/bench/)")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    ipc = bench_sub.add_parser(
        "ipc",
        help="stdout, Queue and a raw pipe side by side",
        description="stdout, Queue and a raw pipe side by side, interleaved in one run.",
    )
    ipc.add_argument(
        "--events", type=int, default=20_000, metavar="N", help="events per run (default 20000)"
    )
    ipc.add_argument(
        "--payload",
        choices=("small", "screenshot"),
        default="small",
        help="small events, or 200 KB screenshots (default small)",
    )
    ipc.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="R",
        help="pace the child at R events/s (default 0: as fast as it can)",
    )
    ipc.add_argument(
        "--peers",
        action="store_true",
        help="add the batched-socket floor, multiprocessing.Queue and pyzmq (bench extra) "
        "to the same interleaved run",
    )
    ipc.add_argument(
        "--repeats", type=int, default=5, metavar="K", help="runs per transport (default 5)"
    )
    _json(ipc)
    hb = bench_sub.add_parser(
        "harness",
        help="wall, audit and harness time of a validation",
        description="Wall, audit and harness time of a stage validation; --scale adds "
        "generated corpora to show the growth.",
    )
    _corpus(hb, repeatable=True)
    hb.add_argument(
        "-n",
        "--workers",
        default="2",
        metavar="N",
        help="pytest-xdist workers: a number or auto (default 2)",
    )
    hb.add_argument(
        "--scale",
        type=_sizes,
        default=[],
        metavar="N,N",
        help="also validate generated corpora of these sizes, e.g. 50,200",
    )
    _json(hb)
    st = bench_sub.add_parser(
        "startup",
        help="an audit's start-up and end, broken down, per mode",
        description="One audit of a corpus case from spawn to its end, broken down (interpreter, "
        "imports, engine set-up, Chromium, first screenshot, browser close), stdout and Queue "
        "interleaved; --against measures another checkout in the same run.",
    )
    st.add_argument(
        "--case",
        default="clean_blog",
        metavar="ID",
        help="the corpus case to audit (default clean_blog)",
    )
    _corpus(st, repeatable=True)
    st.add_argument(
        "--repeats", type=int, default=5, metavar="K", help="audits per mode (default 5)"
    )
    st.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="DIR",
        help="another checkout of the project, measured side by side",
    )
    _json(st)
    gen = command(
        "gen-corpus",
        "write a generated corpus of N cases",
        "For scaling benchmarks; deterministic, not committed.",
    )
    gen.add_argument("--cases", type=int, required=True, metavar="N", help="how many cases")
    gen.add_argument("out", type=Path, metavar="DIR", help="a directory that does not exist yet")
    # Every command that reads or writes under the report directory takes it after its name too.
    for parser in (
        review, gate, advance, cohorts, status, halt, resume, rollback, migrate, merge,
        nightly, failover, killtest, flakes, ipc, hb,
    ):  # fmt: skip
        _report_dir(parser)
    return p


def _since(raw: str) -> str:
    from harness.rollout.status import since_arg

    return since_arg(raw)


def _sizes(raw: str) -> list[int]:
    try:
        sizes = [int(x) for x in raw.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: expected comma-separated case counts >= 1, e.g. 50,200"
        )
    return sizes
