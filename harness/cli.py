"""The ``harness`` command line (also ``python -m harness``).

    harness review [RUN]            terminal summary of a stage run; exit 0 only if its gate passed
    harness status                  the rollout on one screen: stage, halt, validation, cohorts, next
    harness gate --to S [--by NAME] may the rollout advance to S now? exit 0 or 1 with reasons
    harness advance --to S --by NAME --reason TEXT
                                    gate, then append to reports/ROLLOUT.jsonl and print the setting
    harness halt --by NAME --reason TEXT / resume --by NAME    pause the rollout / lift the pause
    harness rollback --to S --by NAME --reason TEXT            record a step back
    harness cohorts [--metrics PATH | --prometheus URL] [--since stage-entry|ISO] [--json]
                                    production cohorts, Queue against stdout (exit 0 PASS, 1 FAIL,
                                    3 INCONCLUSIVE); --simulate: the statistics on simulated cohorts
    harness migrate-ledger --by NAME  carry a ROLLOUT.yaml ledger over into ROLLOUT.jsonl
    harness merge RUN...            shard runs of one stage/commit/corpus into one report
    harness nightly                 validate the current stage with xdist (what a schedule calls)
    harness selftest [--through ws] [--json]  inject Queue faults; every one must be caught
    harness bench ipc [...]         transports side by side; --peers adds pyzmq, mp Queue, the floor
    harness bench harness [...]     what a validation costs; --scale 50,200 for growth
    harness gen-corpus --cases N DIR  a generated corpus (for scaling benchmarks; not committed)
    harness failover --points N     sever the Queue at N random points; nothing may be lost
    harness killtest --points N     SIGKILL the child at N random moments per mode; lose nothing
    harness flakes --runs N         validate the corpus N times clean; any mismatch fails

Exit codes: 0 success / gate passed; 1 gate refused or validation failed; 2 bad input (a
missing or corrupted report, a bad stage, a bad policy file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.paths import DEFAULT_CORPUS, DEFAULT_REPORTS
from harness.policy import PolicyError
from harness.report.gate import ReportError
from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.metrics import PURPOSE_ENV
from veritas.parent.mode import ConfigError, parse_stage


def _stage(raw: str) -> float:
    try:
        return parse_stage(raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harness", description="Veritas IPC stage validation and rollout gate"
    )
    p.add_argument("--report-dir", type=Path, default=DEFAULT_REPORTS)
    sub = p.add_subparsers(dest="command", required=True)
    review = sub.add_parser("review", help="summarise a stage run (default: the latest)")
    review.add_argument("run", nargs="?", type=Path)
    gate = sub.add_parser("gate", help="may the rollout advance to a stage now?")
    gate.add_argument("--to", type=_stage, required=True)
    advance = sub.add_parser("advance", help="record an advance in the rollout ledger")
    advance.add_argument("--to", type=_stage, required=True)
    advance.add_argument("--by", required=True, metavar="NAME", help="who approves the advance")
    advance.add_argument("--reason", required=True, metavar="TEXT", help="why, for the ledger")
    gate.add_argument("--by", default=None, metavar="NAME", help="check this approver too")
    cohorts = sub.add_parser("cohorts", help="production cohorts: Queue against stdout")
    cohorts.add_argument(
        "--since",
        type=_since,
        default="stage-entry",
        metavar="stage-entry|ISO",
        help="from when (default: when the current stage was entered)",
    )
    cohorts.add_argument("--json", action="store_true")
    cohorts.add_argument(
        "--simulate", action="store_true", help="the statistics on seeded simulated cohorts"
    )
    cohorts.add_argument("--draws", type=int, default=2000, help="--simulate: draws per row")
    cohorts.add_argument("--seed", type=int, default=20260301, help="--simulate: the seed")
    status = sub.add_parser(
        "status", help="the rollout on one screen, and what its next step needs"
    )
    for command in (review, gate, advance, cohorts, status):
        source = command.add_mutually_exclusive_group()
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
    halt = sub.add_parser("halt", help="pause the rollout: the gate refuses until resume")
    resume = sub.add_parser("resume", help="lift a halt")
    rollback = sub.add_parser("rollback", help="record a step back to a lower stage")
    rollback.add_argument("--to", type=_stage, required=True)
    migrate = sub.add_parser("migrate-ledger", help="carry ROLLOUT.yaml over into ROLLOUT.jsonl")
    for command in (halt, resume, rollback, migrate):
        command.add_argument("--by", required=True, metavar="NAME", help="who decides")
    for command in (halt, rollback):
        command.add_argument("--reason", required=True, metavar="TEXT")
    resume.add_argument("--reason", default=None, metavar="TEXT")
    for command in (review, gate, advance, status):
        command.add_argument(
            "--engine",
            default=None,
            metavar="MODULE:FUNCTION",
            help="the engine the rollout runs; a report made with another is stale "
            f"(default: ${ENGINE_ENV}, else {BUNDLED_ENGINE})",
        )
    merge = sub.add_parser("merge", help="merge shard runs into one report")
    merge.add_argument("runs", nargs="+", type=Path)
    nightly = sub.add_parser("nightly", help="validate the current stage with xdist")
    nightly.add_argument("--stage", type=_stage, default=None)
    nightly.add_argument("-n", "--workers", default="auto")
    selftest = sub.add_parser("selftest", help="inject Queue faults; the harness must catch them")
    selftest.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    selftest.add_argument("--case", default="clean_shop", help="corpus case to inject into")
    selftest.add_argument("--json", action="store_true")
    selftest.add_argument(
        "--through",
        choices=("runner", "ws"),
        default="runner",
        help="the boundary judged: runner (default) or ws (a backend's WebSocket frames)",
    )
    failover = sub.add_parser("failover", help="sever the Queue at random points; lose nothing")
    failover.add_argument("--points", type=int, default=50)
    failover.add_argument("--seed", type=int, default=20261124)
    failover.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    failover.add_argument("--json", action="store_true")
    killtest = sub.add_parser(
        "killtest", help="SIGKILL the child at random moments; lose nothing it accepted"
    )
    killtest.add_argument("--points", type=int, default=50)
    killtest.add_argument("--seed", type=int, default=20261124)
    killtest.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    killtest.add_argument("--json", action="store_true")
    flakes = sub.add_parser("flakes", help="validate the corpus N times clean, count non-matches")
    flakes.add_argument("--runs", type=int, default=20)
    flakes.add_argument("--stage", type=_stage, default=0.1)
    flakes.add_argument("-n", "--workers", default="2")
    flakes.add_argument("--corpus", type=Path, action="append", default=None)
    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ipc = bench_sub.add_parser("ipc", help="stdout, Queue and a raw pipe side by side")
    ipc.add_argument("--events", type=int, default=20_000)
    ipc.add_argument("--payload", choices=("small", "screenshot"), default="small")
    ipc.add_argument("--rate", type=float, default=0.0, help="pace the child at R events/s")
    ipc.add_argument("--repeats", type=int, default=5)
    ipc.add_argument("--peers", action="store_true", help="add the floor, mp Queue and pyzmq")
    ipc.add_argument("--json", action="store_true")
    hb = bench_sub.add_parser("harness", help="wall, audit and harness time of a validation")
    hb.add_argument("--corpus", type=Path, action="append", default=None)
    hb.add_argument("-n", "--workers", default="2")
    hb.add_argument(
        "--scale", type=_sizes, default=[], help="also validate generated corpora of these sizes"
    )
    hb.add_argument("--json", action="store_true")
    gen = sub.add_parser("gen-corpus", help="write a generated corpus of N cases")
    gen.add_argument("--cases", type=int, required=True)
    gen.add_argument("out", type=Path)
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


def _write_bench(
    args: argparse.Namespace, name: str, result: dict[str, object], folder: str = "bench"
) -> Path:
    import yaml

    out_dir: Path = args.report_dir / folder
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{name}.yaml"
    path.write_text(yaml.safe_dump(result, sort_keys=False))
    return path


def _usage_error(message: str) -> int:
    print(f"harness: error: {message}", file=sys.stderr)
    return 2


def _emit(
    args: argparse.Namespace,
    name: str,
    result: dict[str, Any],
    table: Callable[[dict[str, Any]], str],
) -> int:
    """Write *result* to reports/bench and print it (JSON with --json, else the table)."""
    path = _write_bench(args, name, result)
    print(json.dumps(result) if args.json else f"{table(result)}\nwritten: {path}")
    return 0


def _corpus_dirs(args: argparse.Namespace) -> list[Path] | None:
    """The --corpus directories (default: the bundled corpus); None, said, if one is missing."""
    corpus: list[Path] = args.corpus or [DEFAULT_CORPUS]
    missing = [c for c in corpus if not c.is_dir()]
    if missing:
        _usage_error(f"--corpus {missing[0]}: no such directory")
        return None
    return corpus


def _bench_harness(args: argparse.Namespace) -> int:
    from harness.tools.benchcorpus import run_harness_bench, table

    corpus = _corpus_dirs(args)
    if corpus is None:
        return 2
    result = run_harness_bench(corpus, args.workers, args.scale)
    return _emit(args, "harness", result, table)


def _gen_corpus(args: argparse.Namespace) -> int:
    from harness.tools.gencorpus import generate

    try:
        out = generate(args.out, args.cases)
    except (ValueError, FileExistsError) as exc:
        return _usage_error(str(exc))
    print(f"{args.cases} cases written to {out}; validate with: pytest harness/ --corpus {out}")
    return 0


def _bench_ipc(args: argparse.Namespace) -> int:
    from harness.tools.bench import run_ipc_bench, table

    if args.events < 2 or args.repeats < 1:
        return _usage_error("--events must be >= 2 and --repeats >= 1")
    result = run_ipc_bench(args.events, args.payload, args.rate, args.repeats, peers=args.peers)
    return _emit(args, f"ipc-{args.payload}", result, table)


def _selftest(args: argparse.Namespace) -> int:
    from harness.corpus.cases import CorpusError
    from harness.tools.selftest import run_selftest, table

    try:
        result = run_selftest(args.corpus, args.case, through=args.through)
    except (CorpusError, KeyError) as exc:
        return _usage_error(str(exc))
    print(json.dumps(result) if args.json else table(result))
    return 0 if result["detection_rate"] == 1.0 and result["false_alarms"] == 0 else 1


def _failover(args: argparse.Namespace) -> int:
    from harness.corpus.cases import CorpusError
    from harness.tools.failover import passed, run_failover, table

    if args.points < 1:
        return _usage_error(f"--points {args.points}: must be >= 1")
    try:
        result = run_failover(args.corpus, args.points, args.seed)
    except CorpusError as exc:
        return _usage_error(str(exc))
    path = _write_bench(args, "failover", result, folder="reliability")
    print(json.dumps(result) if args.json else f"{table(result)}\nwritten: {path}")
    return 0 if passed(result) else 1


def _killtest(args: argparse.Namespace) -> int:
    from harness.corpus.cases import CorpusError
    from harness.tools.killtest import passed, run_killtest, table

    if args.points < 1:
        return _usage_error(f"--points {args.points}: must be >= 1")
    try:
        result = run_killtest(args.corpus, args.points, args.seed)
    except CorpusError as exc:
        return _usage_error(str(exc))
    path = _write_bench(args, "killtest", result, folder="reliability")
    print(json.dumps(result) if args.json else f"{table(result)}\nwritten: {path}")
    return 0 if passed(result) else 1


def _flakes(args: argparse.Namespace) -> int:
    from harness.tools.flakes import run_flakes, table

    if args.runs < 1:
        return _usage_error(f"--runs {args.runs}: must be >= 1")
    corpus = _corpus_dirs(args)
    if corpus is None:
        return 2
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = args.report_dir / "flakes" / stamp
    result = run_flakes(args.runs, args.stage, args.workers, corpus, out_dir)
    print(table(result))
    print(f"written: {out_dir / 'flakes.yaml'}")
    return 0 if result["mismatches"] == 0 else 1


def _simulate(args: argparse.Namespace) -> int:
    from harness.tools.cohortsim import run_simulation, table

    if args.draws < 100:
        return _usage_error(f"--draws {args.draws}: must be >= 100")
    result = run_simulation(args.draws, args.seed)
    return _emit(args, "cohorts-simulation", result, table)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Whatever audits this command starts (itself or in the pytest it runs) are validation,
    # never production: the metrics store records them so and the cohorts leave them out.
    os.environ[PURPOSE_ENV] = "validation"
    try:
        if args.command == "bench":
            return _bench_ipc(args) if args.bench == "ipc" else _bench_harness(args)
        if args.command == "gen-corpus":
            return _gen_corpus(args)
        if args.command == "selftest":
            return _selftest(args)
        if args.command == "failover":
            return _failover(args)
        if args.command == "killtest":
            return _killtest(args)
        if args.command == "flakes":
            return _flakes(args)
        if args.command == "cohorts" and args.simulate:
            return _simulate(args)
        from harness.report.merge import merge
        from harness.rollout import advance, status
        from harness.tools.nightly import nightly

        handlers = {
            "review": status.review,
            "gate": advance.gate,
            "advance": advance.advance,
            "halt": advance.halt,
            "resume": advance.resume,
            "rollback": advance.rollback,
            "cohorts": status.cohorts,
            "status": status.status,
            "migrate-ledger": status.migrate_ledger,
            "merge": merge,
        }
        return handlers.get(args.command, nightly)(args)
    except (ReportError, PolicyError, ConfigError, OSError) as exc:
        return _usage_error(str(exc))


if __name__ == "__main__":
    sys.exit(main())
