"""One case's result, typed: made by the case run, sent by an xdist worker, read by every reader.

A ``CaseResult`` crosses three boundaries as plain data: ``workeroutput`` (JSON), report.yaml
and the shards a merge reads back. ``to_dict`` is that plain form, key for key and in the order
report.yaml lists the keys (the report is written unsorted); ``from_dict`` is its inverse.
Nothing else turns a case into a dict or reads one by key.

``from_dict`` reads what the report schema accepts. A key the schema makes optional reads as its
absence always has: no failover, no ignore rule, no difference, no artifacts, no deepdiff call.
A key this module needs and the schema does not require (a run's latency figures, a first
difference's fields) is a ``KeyError``; ``harness.report.check`` names the case.

``StageReport`` is a whole report as the harness holds it: report.yaml's mapping with its cases
typed. ``report_to_dict`` gives the mapping to write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NotRequired, TypedDict


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Event latency of one run, in milliseconds (the parent's receive time minus the child's)."""

    p50_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Latency:
        return cls(p50_ms=d["p50_ms"], p99_ms=d["p99_ms"], max_ms=d["max_ms"])


class TransportRun(NamedTuple):
    """Consecutive events one transport delivered (a list ``[transport, first, events]`` as data)."""

    transport: str
    first_seq: int
    events: int


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One audit of a case (the stdout run, the Queue run or a noise run), as the report keeps it."""

    state: str
    #: None: not recorded (the schema does not require the modes).
    mode_requested: str | None = None
    mode_used: str | None = None
    attested_transport: str
    events: int
    events_by_transport: dict[str, int]
    transport_runs: list[TransportRun] = field(default_factory=list)
    fallback: bool = False
    fallback_reason: str | None = None
    exit_code: int | None
    duration_s: float
    ipc_faults: list[str] = field(default_factory=list)
    malformed_lines: int = 0
    latency: Latency
    #: The last lines the child wrote to stderr.
    stderr_tail: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "mode_requested": self.mode_requested,
            "mode_used": self.mode_used,
            "attested_transport": self.attested_transport,
            "events": self.events,
            "events_by_transport": dict(self.events_by_transport),
            "transport_runs": [list(run) for run in self.transport_runs],
            "fallback": self.fallback,
            "fallback_reason": self.fallback_reason,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "ipc_faults": list(self.ipc_faults),
            "malformed_lines": self.malformed_lines,
            "latency": self.latency.to_dict(),
            "stderr_tail": list(self.stderr_tail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSummary:
        return cls(
            state=d["state"],
            mode_requested=d.get("mode_requested"),
            mode_used=d.get("mode_used"),
            attested_transport=d["attested_transport"],
            events=d["events"],
            events_by_transport=dict(d["events_by_transport"]),
            transport_runs=[TransportRun(*run) for run in d.get("transport_runs") or []],
            # The schema allows null: it reads as no fallback, as it always has.
            fallback=bool(d.get("fallback")),
            fallback_reason=d.get("fallback_reason"),
            exit_code=d["exit_code"],
            duration_s=d["duration_s"],
            ipc_faults=list(d.get("ipc_faults") or []),
            malformed_lines=d.get("malformed_lines", 0),
            latency=Latency.from_dict(d["latency"]),
            stderr_tail=list(d.get("stderr_tail") or []),
        )


@dataclass(frozen=True, kw_only=True)
class CaseRuns:
    stdout: RunSummary
    queue: RunSummary
    #: The control's re-runs (``--noise-runs``), all over stdout.
    noise: list[RunSummary] = field(default_factory=list)
    #: Why the noise runs were made or not (None: not recorded).
    noise_why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout.to_dict(),
            "queue": self.queue.to_dict(),
            "noise": [run.to_dict() for run in self.noise],
            "noise_why": self.noise_why,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaseRuns:
        return cls(
            stdout=RunSummary.from_dict(d["stdout"]),
            queue=RunSummary.from_dict(d["queue"]),
            noise=[RunSummary.from_dict(run) for run in d["noise"]],
            noise_why=d.get("noise_why"),
        )


@dataclass(frozen=True, kw_only=True)
class ScreenshotDigests:
    """Label -> pixel digest of every screenshot each mode delivered."""

    stdout: dict[str, str]
    queue: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"stdout": dict(self.stdout), "queue": dict(self.queue)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScreenshotDigests:
        return cls(stdout=dict(d["stdout"]), queue=dict(d["queue"]))


@dataclass(frozen=True, kw_only=True)
class AuditSeconds:
    stdout: float
    queue: float
    #: All noise runs together.
    noise: float

    def to_dict(self) -> dict[str, Any]:
        return {"stdout": self.stdout, "queue": self.queue, "noise": self.noise}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditSeconds:
        return cls(stdout=d["stdout"], queue=d["queue"], noise=d["noise"])


@dataclass(frozen=True, kw_only=True)
class CaseTiming:
    audit_s: AuditSeconds
    #: Observing the runs: event records and pixel digests.
    digest_s: float
    compare_s: float
    #: deepdiff runs only on a difference; the harness benchmark counts the calls on matches.
    deepdiff_calls: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_s": self.audit_s.to_dict(),
            "digest_s": self.digest_s,
            "compare_s": self.compare_s,
            "deepdiff_calls": self.deepdiff_calls,
            "wall_s": self.wall_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaseTiming:
        return cls(
            audit_s=AuditSeconds.from_dict(d["audit_s"]),
            digest_s=d["digest_s"],
            compare_s=d["compare_s"],
            deepdiff_calls=d.get("deepdiff_calls", 0),
            wall_s=d.get("wall_s", 0.0),
        )


@dataclass(frozen=True, kw_only=True)
class IgnoreRuleUse:
    """One of the case's ignore rules: its reason and how many values it masked per run."""

    name: str
    reason: str
    masked: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason, "masked": dict(self.masked)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IgnoreRuleUse:
        return cls(name=d["name"], reason=d["reason"], masked=dict(d["masked"]))


#: One differing field: ``path`` and ``change``, and the ``left`` and ``right`` values where the
#: change has them. The values are whatever the audited site put there, of any JSON type, so
#: the entry stays a mapping.
DiffPath = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class FirstDifference:
    """Where the two compared streams first diverge (``veritas.diff.compare.Difference``)."""

    index: int
    type: str | None
    phase: str | None
    paths: list[DiffPath]
    #: The two streams' lengths, in events.
    lengths: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "phase": self.phase,
            "paths": list(self.paths),
            "lengths": list(self.lengths),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FirstDifference:
        return cls(
            index=d["index"],
            type=d["type"],
            phase=d["phase"],
            paths=list(d["paths"]),
            lengths=list(d["lengths"]),
        )


@dataclass(frozen=True, kw_only=True)
class ArtifactScreenshot:
    """A screenshot whose pixels differ between the compared runs: its files in the case's
    artifact directory (None where a run had no such screenshot)."""

    label: str
    left: str | None = None
    right: str | None = None
    diff: str | None = None
    #: What the pixel comparison found, or why it could not run (both images needed).
    note: str | None = None
    #: Whether the pixels were compared; only then is ``bbox`` recorded (None: the sizes
    #: differ, or no pixel does), so a failed comparison keeps its note alone.
    compared: bool = False
    bbox: list[int] | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "label": self.label,
            "left": self.left,
            "right": self.right,
            "diff": self.diff,
        }
        if self.note is not None:
            entry["note"] = self.note
        if self.compared:
            entry["bbox"] = None if self.bbox is None else list(self.bbox)
        return entry

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtifactScreenshot:
        bbox = d.get("bbox")
        return cls(
            label=d["label"],
            left=d.get("left"),
            right=d.get("right"),
            diff=d.get("diff"),
            note=d.get("note"),
            compared="bbox" in d,
            bbox=None if bbox is None else list(bbox),
        )


@dataclass(frozen=True, kw_only=True)
class Artifacts:
    """The files a non-matching case left under the run's ``cases/<dir>/``."""

    dir: str = ""
    #: The two runs compared: left and right.
    sides: list[str] = field(default_factory=lambda: ["stdout", "queue"])
    screenshots: list[ArtifactScreenshot] = field(default_factory=list)
    #: Each side's events around the divergence (a JSON file).
    left_events: str | None = None
    right_events: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dir": self.dir,
            "sides": list(self.sides),
            "screenshots": [shot.to_dict() for shot in self.screenshots],
            "left_events": self.left_events,
            "right_events": self.right_events,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Artifacts:
        return cls(
            dir=str(d.get("dir", "")),
            sides=list(d.get("sides") or ["stdout", "queue"]),
            screenshots=[ArtifactScreenshot.from_dict(s) for s in d.get("screenshots") or []],
            left_events=d.get("left_events"),
            right_events=d.get("right_events"),
        )


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """One corpus case validated: its verdict and the evidence the verdict rests on."""

    id: str
    tier: str
    tags: list[str]
    failover: bool = False
    url: str
    #: match | ignored | mismatch | inconclusive
    verdict: str
    reasons: list[str]
    ignored_by: list[str] = field(default_factory=list)
    ignore_rules: list[IgnoreRuleUse] = field(default_factory=list)
    #: For an ``ignored`` case: what the rules masked, both values side by side.
    masked_differences: list[DiffPath] = field(default_factory=list)
    first_difference: FirstDifference | None = None
    first_difference_text: str | None = None
    runs: CaseRuns
    screenshots: ScreenshotDigests
    #: Run name (stdout, queue, noise-1, …) -> digest of its normalized stream.
    digests: dict[str, str]
    #: Normalization rule -> values it replaced in this case's runs.
    normalization: dict[str, int]
    timing: CaseTiming
    #: Only for a case that did not match.
    artifacts: Artifacts | None = None

    @property
    def passed(self) -> bool:
        """Whether the verdict counts toward a gate."""
        return self.verdict in ("match", "ignored")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "tier": self.tier,
            "tags": list(self.tags),
            "failover": self.failover,
            "url": self.url,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "ignored_by": list(self.ignored_by),
            "ignore_rules": [rule.to_dict() for rule in self.ignore_rules],
            "masked_differences": list(self.masked_differences),
            "first_difference": (
                None if self.first_difference is None else self.first_difference.to_dict()
            ),
            "first_difference_text": self.first_difference_text,
            "runs": self.runs.to_dict(),
            "screenshots": self.screenshots.to_dict(),
            "digests": dict(self.digests),
            "normalization": dict(self.normalization),
            "timing": self.timing.to_dict(),
        }
        if self.artifacts is not None:  # a matching case records no artifacts key at all
            data["artifacts"] = self.artifacts.to_dict()
        return data

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaseResult:
        difference = d.get("first_difference")
        artifacts = d.get("artifacts")
        return cls(
            id=d["id"],
            tier=d["tier"],
            tags=list(d["tags"]),
            failover=bool(d.get("failover")),
            url=d["url"],
            verdict=d["verdict"],
            reasons=list(d["reasons"]),
            ignored_by=list(d.get("ignored_by") or []),
            ignore_rules=[IgnoreRuleUse.from_dict(r) for r in d.get("ignore_rules") or []],
            masked_differences=list(d.get("masked_differences") or []),
            first_difference=None if difference is None else FirstDifference.from_dict(difference),
            first_difference_text=d.get("first_difference_text"),
            runs=CaseRuns.from_dict(d["runs"]),
            screenshots=ScreenshotDigests.from_dict(d["screenshots"]),
            digests=dict(d["digests"]),
            normalization=dict(d["normalization"]),
            timing=CaseTiming.from_dict(d["timing"]),
            artifacts=None if artifacts is None else Artifacts.from_dict(artifacts),
        )


class StageReport(TypedDict):
    """A stage report as the harness holds it: report.yaml's mapping, its cases typed.

    The other parts stay mappings: they are written once and read by key in few places, and
    the report schema (``schema.json``) is what checks them.
    """

    schema_version: int
    stage: float
    run_id: str
    run_group: str
    created: str
    provenance: dict[str, Any]
    scope: dict[str, Any]
    settings: dict[str, Any]
    policy: dict[str, Any]
    normalization: list[dict[str, Any]]
    totals: dict[str, Any]
    timing: dict[str, Any]
    #: The shard runs a merged run was made of (None otherwise; absent in hand-made reports).
    shards: NotRequired[list[dict[str, Any]] | None]
    cases: list[CaseResult]
    gate: dict[str, Any]


def report_to_dict(report: StageReport) -> dict[str, Any]:
    """The report as report.yaml records it (its keys in the same order)."""
    return {**report, "cases": [case.to_dict() for case in report["cases"]]}
