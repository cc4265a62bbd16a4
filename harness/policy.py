"""The stages policy (``harness/stages.yaml``): per stage, what its validation must show
(``stages``), and what the rollout itself must show (``rollout``): production cohorts while
the rollout is in a stage, how fresh the validating report must be, who may approve."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from veritas.parent.mode import STAGES

POLICY_FILE = Path(__file__).resolve().parent / "stages.yaml"
_FIELDS = (
    "min_audits_per_mode",
    "max_mismatches",
    "max_inconclusive",
    "min_days_in_previous_stage",
)


_COHORT_FIELDS = {
    "min_audits_per_mode": "an integer >= 1",
    "max_fallback_rate": "a number from 0 to 1",
    "max_failure_rate_excess": "a number from 0 to 1",
    "max_latency_p99_ratio": "a number >= 1",
}
_ROLLOUT_FIELDS = {
    "alpha": "a number > 0 and < 0.5",
    "validation_max_age_days": "an integer >= 1",
    "author_may_approve": "true or false",
    "cohorts": "a mapping of every stage to its cohort rules",
}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class StagePolicy:
    stage: float
    min_audits_per_mode: int
    max_mismatches: int
    max_inconclusive: int
    min_days_in_previous_stage: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CohortPolicy:
    """What production must show while the rollout is in *stage* before it may leave it."""

    stage: float
    #: below this many production audits in either mode the comparison is INCONCLUSIVE
    min_audits_per_mode: int
    #: the Queue cohort's fallback rate may not be significantly above this
    max_fallback_rate: float
    #: the Queue's failure rate may not be significantly above stdout's by more than this
    max_failure_rate_excess: float
    #: the Queue's event-latency p99 may not be significantly above stdout's times this
    max_latency_p99_ratio: float


@dataclass(frozen=True)
class RolloutPolicy:
    alpha: float
    validation_max_age_days: int
    author_may_approve: bool
    cohorts: dict[float, CohortPolicy]


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        from harness.yamlfile import yaml_problem

        raise PolicyError(f"{path}: cannot read the stages policy: {yaml_problem(exc)}") from None
    if (
        not isinstance(raw, dict)
        or raw.get("version") != 1
        or not isinstance(raw.get("stages"), dict)
    ):
        raise PolicyError(f"{path}: expected 'version: 1' and a 'stages' mapping")
    unknown = sorted(set(raw) - {"version", "stages", "rollout"})
    if unknown:
        raise PolicyError(f"{path}: unknown top-level keys {unknown}; accepted: stages, rollout")
    return raw


def _stage_key(path: Path, key: Any, where: str) -> float:
    try:
        stage = float(key)
    except (TypeError, ValueError):
        stage = -1.0
    if stage not in STAGES:
        raise PolicyError(
            f"{path}: {where}stage {key!r} unknown; accepted: {', '.join(map(str, STAGES))}"
        )
    return stage


def _number(path: Path, where: str, name: str, value: Any, accepted: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and name == "alpha":
        ok = 0 < value < 0.5
    elif ok and name == "max_latency_p99_ratio":
        ok = value >= 1
    elif ok and name in ("min_audits_per_mode", "validation_max_age_days"):
        ok = isinstance(value, int) and value >= 1
    elif ok:
        ok = 0 <= value <= 1
    if not ok:
        raise PolicyError(f"{path}: {where}{name}={value!r}; accepted: {accepted}")
    return float(value)


def load_rollout_policy(path: Path = POLICY_FILE) -> RolloutPolicy:
    """The ``rollout`` section: every key required, every value checked, every stage present."""
    raw = _read(path).get("rollout")
    if not isinstance(raw, dict) or set(raw) != set(_ROLLOUT_FIELDS):
        got = sorted(raw) if isinstance(raw, dict) else raw
        raise PolicyError(
            f"{path}: rollout: keys must be exactly {list(_ROLLOUT_FIELDS)}, got {got}"
        )
    if not isinstance(raw["author_may_approve"], bool):
        raise PolicyError(
            f"{path}: rollout: author_may_approve={raw['author_may_approve']!r}; "
            "accepted: true or false"
        )
    alpha = _number(path, "rollout: ", "alpha", raw["alpha"], _ROLLOUT_FIELDS["alpha"])
    age = _number(
        path,
        "rollout: ",
        "validation_max_age_days",
        raw["validation_max_age_days"],
        _ROLLOUT_FIELDS["validation_max_age_days"],
    )
    if not isinstance(raw["cohorts"], dict):
        raise PolicyError(f"{path}: rollout: cohorts={raw['cohorts']!r}; accepted: a mapping")
    cohorts: dict[float, CohortPolicy] = {}
    for key, rules in raw["cohorts"].items():
        stage = _stage_key(path, key, "rollout: cohorts: ")
        where = f"rollout: cohorts: stage {key}: "
        if not isinstance(rules, dict) or set(rules) != set(_COHORT_FIELDS):
            got = sorted(rules) if isinstance(rules, dict) else rules
            raise PolicyError(
                f"{path}: {where}keys must be exactly {list(_COHORT_FIELDS)}, got {got}"
            )
        values = {n: _number(path, where, n, rules[n], a) for n, a in _COHORT_FIELDS.items()}
        cohorts[stage] = CohortPolicy(
            stage,
            min_audits_per_mode=int(values["min_audits_per_mode"]),
            max_fallback_rate=values["max_fallback_rate"],
            max_failure_rate_excess=values["max_failure_rate_excess"],
            max_latency_p99_ratio=values["max_latency_p99_ratio"],
        )
    missing = [s for s in STAGES if s not in cohorts]
    if missing:
        raise PolicyError(f"{path}: rollout: cohorts: stages missing: {missing}")
    return RolloutPolicy(alpha, int(age), raw["author_may_approve"], cohorts)


def load_policy(path: Path = POLICY_FILE) -> dict[float, StagePolicy]:
    raw = _read(path)
    policies: dict[float, StagePolicy] = {}
    for key, rules in raw["stages"].items():
        stage = _stage_key(path, key, "")
        if not isinstance(rules, dict) or set(rules) != set(_FIELDS):
            got = sorted(rules) if isinstance(rules, dict) else rules
            raise PolicyError(
                f"{path}: stage {key}: keys must be exactly {list(_FIELDS)}, got {got}"
            )
        for name in _FIELDS:
            value = rules[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PolicyError(
                    f"{path}: stage {key}: {name}={value!r}; accepted: an integer >= 0"
                )
        policies[stage] = StagePolicy(stage, **rules)
    missing = [s for s in STAGES if s not in policies]
    if missing:
        raise PolicyError(f"{path}: stages missing from the policy: {missing}")
    return policies
