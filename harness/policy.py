"""The stages policy (``harness/stages.yaml``): per stage, what its validation must show."""

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


def load_policy(path: Path = POLICY_FILE) -> dict[float, StagePolicy]:
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
    policies: dict[float, StagePolicy] = {}
    for key, rules in raw["stages"].items():
        try:
            stage = float(key)
        except ValueError:
            stage = -1.0
        if stage not in STAGES:
            raise PolicyError(
                f"{path}: stage {key!r} unknown; accepted: {', '.join(map(str, STAGES))}"
            )
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
