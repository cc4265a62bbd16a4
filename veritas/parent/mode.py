"""Choosing the IPC mode of an audit (stages, flags, environment; see docs/architecture.md).

Priority: CLI flag > ``QUEUE_IPC_MODE`` > ``QUEUE_IPC_ROLLOUT``. Rollout bucketing is sticky
and nested: the audited URL hashes to a bucket in [0, 1) and the audit uses the Queue when the
bucket is below the rollout, so a site in the 10% cohort stays in Queue mode at 25%.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

Mode = Literal["queue", "stdout"]
STAGES: Final = (0.1, 0.25, 0.5, 0.75, 1.0)
DEFAULT_ROLLOUT: Final = 0.1
MODE_VALUES: Final = ("queue", "stdout", "fallback")


class ConfigError(ValueError):
    """A bad setting: names the setting, the value and what is accepted (CLI exit code 2)."""


@dataclass(frozen=True)
class ModeDecision:
    mode: Mode
    source: str  # "flag", "QUEUE_IPC_MODE" or "QUEUE_IPC_ROLLOUT"
    bucket: float | None = None
    rollout: float | None = None

    def describe(self) -> str:
        if self.bucket is None:
            return f"{self.mode} (from {self.source})"
        return f"{self.mode} (bucket {self.bucket:.4f} vs rollout {self.rollout:g})"


def parse_stage(raw: str, what: str = "stage") -> float:
    """A rollout stage from text; ConfigError naming *what*, the value and the stages."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if value not in STAGES:
        raise ConfigError(
            f"{what} {raw!r} is not a rollout stage; accepted: {', '.join(map(str, STAGES))}"
        )
    return value


def parse_rollout(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get("QUEUE_IPC_ROLLOUT")
    if raw is None or raw.strip() == "":
        return DEFAULT_ROLLOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (0.0 <= value <= 1.0):
        raise ConfigError(
            f"QUEUE_IPC_ROLLOUT={raw!r} is invalid; accepted: a number from 0.0 to 1.0 "
            f"(stages: {', '.join(map(str, STAGES))})"
        )
    return value


def parse_mode_env(env: Mapping[str, str] | None = None) -> Mode | None:
    env = os.environ if env is None else env
    raw = env.get("QUEUE_IPC_MODE")
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value not in MODE_VALUES:
        raise ConfigError(
            f"QUEUE_IPC_MODE={raw!r} is invalid; accepted: {', '.join(MODE_VALUES)} (or unset)"
        )
    return "queue" if value == "queue" else "stdout"


def bucket_of(key: str) -> float:
    """A stable position in [0, 1) for *key* (the audited URL)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def select_mode(
    url: str,
    *,
    use_queue_ipc: bool = False,
    use_stdout: bool = False,
    env: Mapping[str, str] | None = None,
) -> ModeDecision:
    """Decide the mode; raise ConfigError for a bad environment value, even when unused."""
    env_mode = parse_mode_env(env)
    rollout = parse_rollout(env)
    if use_queue_ipc:  # both flags given: Queue wins
        return ModeDecision("queue", "flag")
    if use_stdout:
        return ModeDecision("stdout", "flag")
    if env_mode is not None:
        return ModeDecision(env_mode, "QUEUE_IPC_MODE")
    bucket = bucket_of(url)
    mode: Mode = "queue" if bucket < rollout else "stdout"
    return ModeDecision(mode, "QUEUE_IPC_ROLLOUT", bucket, rollout)
