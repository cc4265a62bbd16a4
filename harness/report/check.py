"""Reading a stage report as evidence: checked against its schema, re-derived from its cases.

``harness review`` and ``harness gate`` never trust what a report.yaml says of itself. It must
validate against ``schema.json`` (a JSON Schema, versioned with ``schema_version``), and
everything derivable — totals, whether the run can gate, the gate decision, and each case's
verdict as far as its recorded evidence decides it — must equal what the cases give. Any
disagreement is a ``ReportError`` that names the field, so a hand-edited or truncated report
is refused, never half believed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, cast

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from harness.policy import StagePolicy
from harness.report.gate import ReportError, evaluate_run
from harness.report.result import CaseResult, StageReport
from harness.report.writer import SCHEMA_VERSION, scope, totals

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.json"


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def load_report(path: Path) -> StageReport:
    """Read, validate and re-derive a report.yaml (or a run directory's)."""
    file = path / "report.yaml" if path.is_dir() else path
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        from harness.yamlfile import yaml_problem

        raise ReportError(f"{file}: cannot read report: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{file}: not a stage report (expected a mapping)")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{file}: schema_version {version!r}; accepted: {SCHEMA_VERSION} "
            "(a report of another version cannot gate: validate again)"
        )
    return check_report(data, str(file))


def check_report(data: dict[str, Any], where: str) -> StageReport:
    """The report *data* holds, its cases typed; ReportError, naming the field, where *data*
    breaks its schema or contradicts its own cases."""
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        field = error.json_path.removeprefix("$.").removeprefix("$") or "(top level)"
        raise ReportError(f"{where}: {field}: {error.message}")
    cases = [_case(where, raw) for raw in data["cases"]]
    for case in cases:
        problem = verdict_problem(case)
        if problem:
            raise ReportError(f"{where}: cases[{case.id!r}].verdict: {problem}")
    # Every top-level part has passed the schema above; the cases are typed from here on.
    report = cast(StageReport, {**data, "cases": cases})
    recorded_scope = report["scope"]
    derived = {
        "totals": totals(cases),
        "scope": scope(
            recorded_scope["corpus_cases"],
            cases,
            report["provenance"]["environment"],
            recorded_scope["shard"],
        ),
    }
    for name, value in derived.items():
        _same(where, name, data[name], value)
    try:
        policy = StagePolicy(**report["policy"])
    except TypeError as exc:
        raise ReportError(f"{where}: policy: not a stages policy ({exc})") from None
    _same(where, "gate", report["gate"], evaluate_run(report, policy))
    return report


def _case(where: str, raw: dict[str, Any]) -> CaseResult:
    """One case of a report, typed; ReportError for what the schema lets through but a case
    result cannot be (a run's latency without its figures, say)."""
    try:
        return CaseResult.from_dict(raw)
    except KeyError as exc:
        raise ReportError(f"{where}: cases[{raw['id']!r}]: missing field {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{where}: cases[{raw['id']!r}]: not a case result ({exc})") from None


def _same(where: str, name: str, recorded: Any, derived: Any) -> None:
    if recorded == derived:
        return
    if isinstance(recorded, dict) and isinstance(derived, dict):
        for key in sorted(set(recorded) | set(derived)):
            _same(where, f"{name}.{key}", recorded.get(key), derived.get(key))
        return
    raise ReportError(
        f"{where}: {name} says {_brief(recorded)}, but the report's cases give {_brief(derived)}"
    )


def _brief(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict_problem(case: CaseResult) -> str | None:
    """Why *case*'s verdict does not follow from its recorded evidence, if it does not.

    The evidence is the runs' states, attestation and IPC faults, and the stream digests of
    each run. It cannot re-decide every verdict (an ignore rule's effect is not recorded as a
    digest), but it refuses each claim that the evidence contradicts.
    """
    verdict, runs, digests = case.verdict, case.runs, case.digests
    stdout, queue = digests.get("stdout"), digests.get("queue")
    equal = stdout is not None and stdout == queue
    faults = runs.queue.ipc_faults
    if verdict == "match":
        # (A control run may differ from the stdout run and still give 'match': the case's
        # ignore rules can make that difference noise-free, and they are not recorded here.)
        attested = runs.queue.attested_transport == "queue" or (
            case.failover and runs.queue.fallback
        )
        broken = [
            (name, run.state)
            for name, run in (("stdout", runs.stdout), ("queue", runs.queue))
            if run.state in ("timeout", "crashed")
        ]
        if not equal:
            return "'match', but the stdout and Queue stream digests differ or are missing"
        if faults:
            return f"'match', but the Queue run reported IPC faults: {faults[0]}"
        if not attested:
            return "'match', but the Queue run is not attested"
        if runs.stdout.attested_transport != "stdout":
            return "'match', but the stdout run did not deliver over stdout"
        if broken:
            return f"'match', but the {broken[0][0]} run ended {broken[0][1]}"
        return None
    if verdict == "ignored":
        if not case.ignored_by:
            return "'ignored', but no ignore rule is named"
        used = {rule.name for rule in case.ignore_rules if any(rule.masked.values())}
        unknown = [name for name in case.ignored_by if name not in used]
        if unknown:
            return (
                f"'ignored' by {unknown[0]!r}, but the case's ignore rules record no rule of "
                "that name that masked a value"
            )
        if equal and all(v == stdout for k, v in digests.items() if k.startswith("noise-")):
            return "'ignored', but every stream digest is equal: the verdict is 'match'"
        return None
    if not case.reasons:
        return f"{verdict!r} without a reason"
    if verdict == "mismatch" and equal and not faults:
        return "'mismatch', but the stream digests are equal and the Queue run had no IPC fault"
    return None
