"""The harness's command-line options (registered in the ``harness`` group) and their checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.paths import DEFAULT_CORPUS, DEFAULT_REPORTS
from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.engine import resolve_engine
from veritas.parent.envcheck import check_environment
from veritas.parent.mode import STAGES, ConfigError, parse_rollout, parse_stage


def stage_type(raw: str) -> float:
    try:
        return parse_stage(raw, "--stage")
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def shard_type(raw: str) -> tuple[int, int]:
    k, _, n = raw.partition("/")
    try:
        shard, total = int(k), int(n)
    except ValueError:
        shard, total = 0, 0
    if not (total >= 1 and 1 <= shard <= total):
        raise pytest.UsageError(
            f"--shard {raw!r} is invalid; accepted: K/N with 1 <= K <= N, e.g. 1/4"
        )
    return shard, total


def noise_runs_type(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise pytest.UsageError(f"--noise-runs {raw!r} is invalid; accepted: an integer >= 0")
    return value


def timeout_type(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise pytest.UsageError(f"--audit-timeout {raw!r} is invalid; accepted: seconds > 0")
    return value


#: the boundaries at which a run's events are compared (``--through``)
THROUGH = ("runner", "ws")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "differential IPC validation (Veritas)")
    group.addoption(
        "--stage",
        type=stage_type,
        default=None,
        help="rollout stage to validate: 0.1, 0.25, 0.5, 0.75 or 1.0 "
        "(default: the current QUEUE_IPC_ROLLOUT)",
    )
    group.addoption(
        "--corpus",
        action="append",
        type=Path,
        default=None,
        metavar="DIR",
        help="corpus directory with cases/ and sites/ (repeatable; default fixtures/)",
    )
    group.addoption(
        "--noise-runs",
        type=noise_runs_type,
        default=1,
        metavar="K",
        help="extra stdout (control) runs per case to detect noise (default 1)",
    )
    group.addoption(
        "--eager-noise",
        action="store_true",
        default=False,
        help="re-run the control of every case (default: only of a case whose stdout and "
        "Queue streams differ, the only case where noise can change the verdict)",
    )
    group.addoption(
        "--report-dir",
        type=Path,
        default=DEFAULT_REPORTS,
        help="where stage reports are written (default reports/)",
    )
    group.addoption(
        "--audit-timeout",
        type=timeout_type,
        default=None,
        metavar="SECONDS",
        help="time limit of each audit, in seconds (default: per case, max(120, 3 x the "
        "case's timeout + 60); the case's timeout bounds each request)",
    )
    group.addoption(
        "--run-group",
        default=None,
        metavar="NAME",
        help="name shared by the shards of one run, for `harness merge` (default: this run's "
        "id; with --shard, derived from stage, shard count, code and corpus)",
    )
    group.addoption(
        "--engine",
        default=None,
        metavar="MODULE:FUNCTION",
        help=f"the audit engine to validate (default: ${ENGINE_ENV}, else {BUNDLED_ENGINE})",
    )
    group.addoption(
        "--through",
        choices=THROUGH,
        default="runner",
        help="the boundary validated: runner (the events AuditRunner delivers, default) or ws "
        "(the frames a WebSocket client of `veritas serve` receives; one backend per worker)",
    )
    group.addoption(
        "--shard",
        type=shard_type,
        default=None,
        metavar="K/N",
        help="validate only shard K of N (stable by case-id hash)",
    )


@dataclass(frozen=True)
class HarnessOptions:
    stage: float
    corpus: tuple[Path, ...]
    noise_runs: int
    report_dir: Path
    audit_timeout: float | None
    shard: tuple[int, int] | None
    run_group: str | None = None
    eager_noise: bool = False
    #: runner | ws: where the compared events are taken (``--through``)
    through: str = "runner"
    #: The engine the audits run, and what a report records of it.
    engine: str = BUNDLED_ENGINE
    engine_info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: pytest.Config) -> HarnessOptions:
        stage = config.getoption("--stage")
        if stage is None:
            try:
                stage = parse_rollout(os.environ)
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
            if stage not in STAGES:
                raise pytest.UsageError(
                    f"QUEUE_IPC_ROLLOUT={stage:g} is not a rollout stage and no --stage was given; "
                    f"accepted: {', '.join(map(str, STAGES))}"
                )
        try:
            check_environment(os.environ)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        try:
            engine, engine_info = resolve_engine(config.getoption("--engine"))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        corpus = tuple(config.getoption("--corpus") or [DEFAULT_CORPUS])
        for directory in corpus:
            if not directory.is_dir():
                raise pytest.UsageError(
                    f"--corpus {str(directory)!r}: corpus directory does not exist "
                    "(expected a directory with cases/ and sites/)"
                )
        return cls(
            stage=stage,
            corpus=corpus,
            noise_runs=int(config.getoption("--noise-runs")),
            report_dir=Path(config.getoption("--report-dir")),
            audit_timeout=config.getoption("--audit-timeout"),
            shard=config.getoption("--shard"),
            run_group=config.getoption("--run-group"),
            engine=engine,
            engine_info=engine_info,
            eager_noise=bool(config.getoption("--eager-noise")),
            through=str(config.getoption("--through")),
        )
