"""A corpus site's ``site.yaml`` sidecar: per-path response rules, validated.

Every key is documented in ``fixtures/README.md``; an unknown key or a bad value is a
``SiteConfigError`` naming the file, the rule and what is accepted.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from harness.yamlfile import load_yaml, yaml_problem

SIDECAR: Final = "site.yaml"
SITE_KEYS: Final = frozenset({"description", "headers", "rules"})
RULE_KEYS: Final = frozenset(
    {"match", "status", "headers", "redirect", "delay", "content_type", "chunked"}
    | {"file", "body", "generate", "dynamic"}
)
GENERATE_KINDS: Final = {
    "repeat": frozenset({"kind", "template", "fragment", "count"}),
    "png": frozenset({"kind", "width", "height", "seed"}),
    "bytes": frozenset({"kind", "size", "seed"}),
}
DYNAMIC_TOKENS: Final = frozenset({"random", "now"})


class SiteConfigError(ValueError):
    """A site directory or its ``site.yaml`` sidecar is invalid (names file, rule and key)."""


@dataclass(frozen=True)
class Chunking:
    """How a chunked body is trickled: ``chunk_size`` bytes every ``interval`` seconds."""

    chunk_size: int = 256
    interval: float = 0.05


@dataclass(frozen=True)
class Rule:
    """One response rule from a sidecar; ``match`` is an exact path or an fnmatch glob."""

    match: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    redirect: str | None = None
    delay: float = 0.0
    content_type: str | None = None
    chunked: Chunking | None = None
    file: str | None = None
    body: str | None = None
    generate: Mapping[str, Any] | None = None
    dynamic: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        if any(ch in self.match for ch in "*?["):
            return fnmatch.fnmatchcase(path, self.match)
        return path == self.match


@dataclass(frozen=True)
class SiteConfig:
    """A parsed site: its directory, headers sent on every response, and its rules in order."""

    name: str
    root: Path
    headers: tuple[tuple[str, str], ...] = ()
    rules: tuple[Rule, ...] = ()

    def rule_for(self, path: str) -> Rule | None:
        """The first rule whose ``match`` accepts ``path`` (query string excluded)."""
        return next((rule for rule in self.rules if rule.matches(path)), None)


def _fail(where: str, what: str) -> SiteConfigError:
    return SiteConfigError(f"{where}: {what}")


def _parse_headers(where: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise _fail(where, f"'headers' must be a list of {{name, value}} mappings, got {raw!r}")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and set(item) == {"name", "value"}):
            raise _fail(where, f"headers[{i}] must be a mapping with exactly 'name' and 'value'")
        name, value = item["name"], item["value"]
        if not isinstance(name, str) or not name or any(c in name for c in " :\r\n"):
            raise _fail(where, f"headers[{i}].name {name!r} is not a valid header name")
        if not isinstance(value, str | int) or any(c in str(value) for c in "\r\n"):
            raise _fail(where, f"headers[{i}].value for {name!r} must be a one-line string")
        out.append((name, str(value)))
    return tuple(out)


def _number(where: str, key: str, value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"'{key}' must be a number, got {value!r}")
    if not minimum <= value <= maximum:
        raise _fail(where, f"'{key}' is {value!r}; accepted: {minimum}..{maximum}")
    return float(value)


def _parse_generate(where: str, raw: Any, root: Path) -> Mapping[str, Any]:
    kinds = ", ".join(sorted(GENERATE_KINDS))
    if not isinstance(raw, dict) or raw.get("kind") not in GENERATE_KINDS:
        raise _fail(where, f"'generate' needs a 'kind'; accepted kinds: {kinds}")
    allowed = GENERATE_KINDS[raw["kind"]]
    if unknown := sorted(set(raw) - allowed):
        accepted = ", ".join(sorted(allowed))
        raise _fail(where, f"generate: unknown key(s) {unknown}; accepted: {accepted}")
    for key in sorted(allowed - {"kind", "seed"}):
        if key not in raw:
            raise _fail(where, f"generate kind {raw['kind']!r} requires '{key}'")
    for key in ("count", "width", "height", "size", "seed"):
        if key in raw:
            _number(where, f"generate.{key}", raw[key], minimum=0, maximum=64 * 1024 * 1024)
    for key in ("template", "fragment"):
        if key in raw and not (root / str(raw[key])).is_file():
            raise _fail(where, f"generate.{key}: file {raw[key]!r} not found in {root}")
    return dict(raw)


def _parse_rule(where: str, raw: Any, root: Path) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(where, f"a rule must be a mapping, got {raw!r}")
    if unknown := sorted(set(raw) - RULE_KEYS):
        raise _fail(where, f"unknown key(s) {unknown}; accepted: {', '.join(sorted(RULE_KEYS))}")
    match = raw.get("match")
    if not isinstance(match, str) or not match.startswith("/"):
        raise _fail(where, f"'match' must be a path or glob starting with '/', got {match!r}")
    kw: dict[str, Any] = {"match": match}
    if "status" in raw:
        status = raw["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise _fail(where, f"'status' is {status!r}; accepted: an integer 100..599")
        kw["status"] = status
    if "headers" in raw:
        kw["headers"] = _parse_headers(where, raw["headers"])
    if "redirect" in raw:
        if not isinstance(raw["redirect"], str) or not raw["redirect"]:
            raise _fail(where, "'redirect' must be a non-empty URL or path string")
        kw["redirect"] = raw["redirect"]
    if "delay" in raw:
        kw["delay"] = _number(where, "delay", raw["delay"], minimum=0, maximum=600)
    for key in ("content_type", "body", "file"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise _fail(where, f"'{key}' must be a string, got {raw[key]!r}")
            kw[key] = raw[key]
    if "file" in raw and not (root / raw["file"]).is_file():
        raise _fail(where, f"'file': {raw['file']!r} not found in {root}")
    chunked = raw.get("chunked")
    if chunked is True:
        kw["chunked"] = Chunking()
    elif isinstance(chunked, dict) and set(chunked) <= {"chunk_size", "interval"}:
        size = chunked.get("chunk_size", 256)
        gap = _number(
            where, "chunked.interval", chunked.get("interval", 0.05), minimum=0, maximum=60
        )
        kw["chunked"] = Chunking(
            int(_number(where, "chunked.chunk_size", size, minimum=1, maximum=1 << 20)), gap
        )
    elif chunked not in (None, False):
        raise _fail(where, "'chunked' must be true or a mapping of chunk_size/interval")
    if "generate" in raw:
        kw["generate"] = _parse_generate(where, raw["generate"], root)
    if "dynamic" in raw:
        dyn = raw["dynamic"]
        if not isinstance(dyn, list) or not dyn or not set(dyn) <= DYNAMIC_TOKENS:
            raise _fail(where, f"'dynamic' must be a list of: {', '.join(sorted(DYNAMIC_TOKENS))}")
        kw["dynamic"] = tuple(dyn)
    if sum(k in raw for k in ("file", "body", "generate")) > 1:
        raise _fail(where, "use at most one of 'file', 'body', 'generate'")
    return Rule(**kw)


def load_site_config(root: Path) -> SiteConfig:
    """Read and validate ``root/site.yaml`` (a site without a sidecar has no rules)."""
    sidecar = root / SIDECAR
    if not sidecar.is_file():
        return SiteConfig(name=root.name, root=root)
    try:
        raw = load_yaml(sidecar)
    except yaml.YAMLError as exc:
        raise _fail(str(sidecar), f"not valid YAML: {yaml_problem(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(str(sidecar), "must be a mapping with keys: " + ", ".join(sorted(SITE_KEYS)))
    if unknown := sorted(set(raw) - SITE_KEYS):
        accepted = ", ".join(sorted(SITE_KEYS))
        raise _fail(str(sidecar), f"unknown key(s) {unknown}; accepted: {accepted}")
    headers = _parse_headers(f"{sidecar}: headers", raw.get("headers", []))
    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        raise _fail(str(sidecar), "'rules' must be a list of rule mappings")
    rules = tuple(
        _parse_rule(f"{sidecar}: rules[{i}]", item, root) for i, item in enumerate(rules_raw)
    )
    return SiteConfig(name=root.name, root=root, headers=headers, rules=rules)


def discover_sites(sites_dirs: Sequence[Path]) -> dict[str, SiteConfig]:
    """Every site under the given ``sites/`` directories; a name found twice is an error."""
    sites: dict[str, SiteConfig] = {}
    for sites_dir in sites_dirs:
        if not sites_dir.is_dir():
            raise SiteConfigError(f"{sites_dir}: sites directory does not exist")
        for root in sorted(p for p in sites_dir.iterdir() if p.is_dir()):
            if root.name in sites:
                raise SiteConfigError(
                    f"{root}: site name {root.name!r} already defined in {sites[root.name].root}"
                )
            sites[root.name] = load_site_config(root)
    return sites


# --- generated bodies -------------------------------------------------------------------
