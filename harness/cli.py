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
    harness bench startup [...]     an audit from spawn to its end, broken down, per mode
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

from harness.cliargs import build_parser
from harness.paths import DEFAULT_CORPUS
from harness.policy import PolicyError
from harness.report.gate import ReportError
from veritas.parent.metrics import PURPOSE_ENV
from veritas.parent.mode import ConfigError
from veritas.parent.progress import Progress


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
        with Progress("harness gen-corpus") as progress:
            out = generate(args.out, args.cases, progress)
    except (ValueError, FileExistsError) as exc:
        return _usage_error(str(exc))
    print(f"{args.cases} cases written to {out}; validate with: pytest harness/ --corpus {out}")
    return 0


def _bench_startup(args: argparse.Namespace) -> int:
    from harness.tools.benchstartup import run_startup_bench, table

    corpus = _corpus_dirs(args)
    if corpus is None:
        return 2
    if args.repeats < 1:
        return _usage_error(f"--repeats {args.repeats}: must be >= 1")
    try:
        result = run_startup_bench(corpus, args.case, args.repeats, args.against)
    except (KeyError, ValueError) as exc:
        return _usage_error(str(exc).strip("'\""))
    except RuntimeError as exc:  # an audit of the benchmark failed: it says which and why
        print(f"harness: {exc}", file=sys.stderr)
        return 1
    return _emit(args, "startup", result, table)


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
        with Progress("harness selftest", enabled=not args.json) as progress:
            result = run_selftest(args.corpus, args.case, through=args.through, progress=progress)
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
        with Progress("harness failover", enabled=not args.json) as progress:
            result = run_failover(args.corpus, args.points, args.seed, progress=progress)
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
        with Progress("harness killtest", enabled=not args.json) as progress:
            result = run_killtest(args.corpus, args.points, args.seed, progress=progress)
    except CorpusError as exc:
        return _usage_error(str(exc))
    path = _write_bench(args, "killtest", result, folder="reliability")
    print(json.dumps(result) if args.json else f"{table(result)}\nwritten: {path}")
    return 0 if passed(result) else 1


def _flakes(args: argparse.Namespace) -> int:
    from harness.corpus.cases import CorpusError
    from harness.tools.flakes import run_flakes, table

    if args.runs < 1:
        return _usage_error(f"--runs {args.runs}: must be >= 1")
    corpus = _corpus_dirs(args)
    if corpus is None:
        return 2
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = args.report_dir / "flakes" / stamp
    try:
        with Progress("harness flakes") as progress:
            result = run_flakes(args.runs, args.stage, args.workers, corpus, out_dir, progress)
    except CorpusError as exc:
        return _usage_error(str(exc))
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
    args = build_parser().parse_args(argv)
    # Whatever audits this command starts (itself or in the pytest it runs) are validation,
    # never production: the metrics store records them so and the cohorts leave them out.
    os.environ[PURPOSE_ENV] = "validation"
    try:
        if args.command == "bench":
            if args.bench == "startup":
                return _bench_startup(args)
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
