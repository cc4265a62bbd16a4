"""Load and validate the audit corpus: ``<dir>/cases/*.yaml`` and the sites in ``<dir>/sites/``.

A broken case file must fail collection loudly, so every problem is a ``CorpusError`` whose
message names the file, the field, what is wrong and what is accepted. The corpus digest
(a SHA-256 over every case and site file, relative path + bytes, in sorted order) goes into
each stage report so that a report can be matched to the exact corpus it validated.
The formats are documented in ``fixtures/README.md``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import yaml

from harness.corpus.sites import SiteConfigError, discover_sites
from harness.yamlfile import load_yaml, yaml_problem
from veritas.diff.masking import IgnoreRule, parse_selector
from veritas.engine.darkpatterns import KINDS as DARK_PATTERN_CATEGORIES
from veritas.engine.judge import RISK_LEVEL_NAMES
from veritas.protocol.event import TIERS

#: ``timeout``: the audit did not finish within the case's timeout (no terminal event).
FINAL_TYPES: Final = ("audit_complete", "audit_error", "timeout")
CASE_KEYS: Final = frozenset(
    {"id", "description", "site", "path", "url", "file", "tier", "tags", "expect", "ignore"}
    | {"timeout", "failover"}
)
EXPECT_KEYS: Final = frozenset(
    {"final_type", "min_events", "max_events", "min_findings", "max_findings"}
    | {"risk_level", "finding_categories"}
)
IGNORE_KEYS: Final = frozenset({"name", "reason", "paths", "pattern"})
DEFAULT_TIMEOUT: Final = 60.0
_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TAG_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CATEGORY_RE: Final = re.compile(r"^[a-z][a-z0-9_]*$")


class CorpusError(ValueError):
    """The corpus (a directory, a case file, a site sidecar) is invalid."""


class URLResolver(Protocol):
    def url_for(self, site: str, path: str = "/") -> str: ...


@dataclass(frozen=True)
class Expectations:
    """Sanity expectations checked after one audit of the case (not part of the diff)."""

    final_type: str | None = None
    min_events: int | None = None
    max_events: int | None = None
    min_findings: int | None = None
    max_findings: int | None = None
    risk_level: tuple[str, ...] = ()
    finding_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One audit of the corpus. Exactly one of ``site``, ``url``, ``file`` is set."""

    id: str
    source: Path
    tier: str
    tags: tuple[str, ...]
    site: str | None = None
    path: str = "/"
    url: str | None = None
    file: Path | None = None
    description: str = ""
    expect: Expectations = field(default_factory=Expectations)
    ignore: tuple[IgnoreRule, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    failover: bool = False

    def target_url(self, server: URLResolver | None = None) -> str:
        """The URL to audit; a ``site`` case needs the running site server."""
        if self.site is not None:
            if server is None:
                raise CorpusError(f"{self.source}: case {self.id!r} needs the site server")
            return server.url_for(self.site, self.path)
        if self.file is not None:
            return self.file.as_uri()
        assert self.url is not None
        return self.url


@dataclass(frozen=True)
class Corpus:
    cases: list[Case]
    digest: str
    dirs: tuple[Path, ...]
    sites_dirs: tuple[Path, ...]
    sites: tuple[str, ...]

    def by_id(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"no case {case_id!r} in corpus {', '.join(map(str, self.dirs))}")


class _CaseParser:
    """Validates one case mapping; every error names the file and the field."""

    def __init__(self, source: Path, corpus_dir: Path, sites: Mapping[str, Path]) -> None:
        self.source, self.corpus_dir, self.sites = source, corpus_dir, sites

    def fail(self, fld: str, what: str) -> CorpusError:
        return CorpusError(f"{self.source}: field '{fld}': {what}")

    def str_field(self, raw: Mapping[str, Any], key: str) -> str:
        value = raw[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def count(self, raw: Mapping[str, Any], key: str, prefix: str) -> int | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(prefix + key, f"must be an integer >= 0, got {value!r}")
        return value

    def one_of(self, fld: str, value: Any, accepted: Sequence[str], what: str) -> str:
        if value not in accepted:
            raise self.fail(fld, f"{value!r} is not a {what}; accepted: {', '.join(accepted)}")
        return str(value)

    def expect(self, raw: Any) -> Expectations:
        if not isinstance(raw, dict):
            raise self.fail("expect", f"must be a mapping, got {raw!r}")
        if unknown := sorted(set(raw) - EXPECT_KEYS):
            accepted = ", ".join(sorted(EXPECT_KEYS))
            raise self.fail("expect", f"unknown key(s) {unknown}; accepted: {accepted}")
        final = raw.get("final_type")
        if final is not None:
            self.one_of("expect.final_type", final, FINAL_TYPES, "final type")
        levels = raw.get("risk_level", [])
        levels = [levels] if isinstance(levels, str) else levels
        if not isinstance(levels, list):
            raise self.fail("expect.risk_level", "must be a risk level or a list of them")
        for level in levels:
            self.one_of("expect.risk_level", level, RISK_LEVEL_NAMES, "risk level")
        cats = raw.get("finding_categories", [])
        if not isinstance(cats, list):
            raise self.fail("expect.finding_categories", "must be a list of categories")
        for cat in cats:
            if cat not in DARK_PATTERN_CATEGORIES and not (
                isinstance(cat, str) and _CATEGORY_RE.match(cat)
            ):
                raise self.fail(
                    "expect.finding_categories",
                    f"{cat!r} is not a category; accepted: "
                    f"{', '.join(DARK_PATTERN_CATEGORIES)} or security_<name>",
                )
        return Expectations(
            final_type=final,
            risk_level=tuple(levels),
            finding_categories=tuple(cats),
            **{
                k: self.count(raw, k, "expect.")
                for k in EXPECT_KEYS
                if k.startswith(("min", "max"))
            },
        )

    def ignore(self, raw: Any) -> tuple[IgnoreRule, ...]:
        if not isinstance(raw, list):
            raise self.fail("ignore", "must be a list of {name, reason, paths} mappings")
        rules: list[IgnoreRule] = []
        for i, item in enumerate(raw):
            fld = f"ignore[{i}]"
            if not isinstance(item, dict):
                raise self.fail(fld, f"must be a mapping, got {item!r}")
            if unknown := sorted(set(item) - IGNORE_KEYS):
                accepted = ", ".join(sorted(IGNORE_KEYS))
                raise self.fail(fld, f"unknown key(s) {unknown}; accepted: {accepted}")
            for key in ("name", "reason", "paths"):
                if key not in item:
                    raise self.fail(f"{fld}.{key}", "is required")
            name = item["name"]
            if not isinstance(name, str) or not _TAG_RE.match(name):
                raise self.fail(f"{fld}.name", f"{name!r} must match {_TAG_RE.pattern}")
            if name in {r.name for r in rules}:
                raise self.fail(f"{fld}.name", f"duplicate ignore rule name {name!r}")
            reason = self.str_field(item, "reason")
            paths = item["paths"]
            if not isinstance(paths, list) or not paths:
                raise self.fail(f"{fld}.paths", "must be a non-empty list of selectors")
            for path in paths:
                try:
                    parse_selector(path if isinstance(path, str) else repr(path))
                except ValueError as exc:
                    raise self.fail(f"{fld}.paths", f"bad selector: {exc}") from None
            pattern = item.get("pattern")
            if pattern is not None:
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as exc:
                    raise self.fail(f"{fld}.pattern", f"not a valid regex: {exc}") from None
            rules.append(IgnoreRule(name, reason, tuple(paths), pattern))
        return tuple(rules)

    def parse(self, raw: Any) -> Case:
        if not isinstance(raw, dict):
            raise CorpusError(f"{self.source}: a case file must be a YAML mapping")
        if unknown := sorted(set(raw) - CASE_KEYS):
            accepted = ", ".join(sorted(CASE_KEYS))
            raise self.fail(str(unknown[0]), f"unknown key; accepted: {accepted}")
        for key in ("id", "tier", "tags"):
            if key not in raw:
                raise self.fail(key, "is required")
        case_id = self.str_field(raw, "id")
        if case_id != self.source.stem:
            raise self.fail("id", f"{case_id!r} must equal the file name stem {self.source.stem!r}")
        if not _ID_RE.match(case_id):
            raise self.fail("id", f"{case_id!r} must match {_ID_RE.pattern}")
        tier = self.one_of("tier", raw["tier"], TIERS, "tier")
        tags = raw["tags"]
        if not isinstance(tags, list) or not tags:
            raise self.fail("tags", "must be a non-empty list of short words")
        for tag in tags:
            if not isinstance(tag, str) or not _TAG_RE.match(tag):
                raise self.fail("tags", f"{tag!r} is not a tag; accepted: {_TAG_RE.pattern}")
        kw: dict[str, Any] = {"id": case_id, "source": self.source, "tier": tier}
        kw["tags"] = tuple(tags)
        targets = [k for k in ("site", "url", "file") if k in raw]
        if len(targets) != 1:
            raise self.fail("site", f"exactly one of site, url, file is required, got {targets}")
        if "path" in raw and "site" not in raw:
            raise self.fail("path", "is only allowed together with 'site'")
        if "site" in raw:
            kw["site"] = self.str_field(raw, "site")
            if kw["site"] not in self.sites:
                known = ", ".join(sorted(self.sites)) or "(none)"
                raise self.fail("site", f"unknown site {kw['site']!r}; sites: {known}")
            kw["path"] = self.str_field(raw, "path") if "path" in raw else "/"
            if not kw["path"].startswith("/"):
                raise self.fail("path", f"{kw['path']!r} must start with '/'")
        elif "url" in raw:
            kw["url"] = self.str_field(raw, "url")
            if not re.match(r"^(https?|file)://", kw["url"]):
                raise self.fail(
                    "url", f"{kw['url']!r}; accepted: an absolute http(s):// or file://"
                )
        else:
            target = (self.source.parent / self.str_field(raw, "file")).resolve()
            if not target.is_file():
                raise self.fail("file", f"{raw['file']!r} is not a file (relative to case file)")
            if not target.is_relative_to(self.corpus_dir.resolve()):
                raise self.fail("file", f"{raw['file']!r} must stay inside {self.corpus_dir}")
            kw["file"] = target
        if "description" in raw:
            kw["description"] = self.str_field(raw, "description")
        if "expect" in raw:
            kw["expect"] = self.expect(raw["expect"])
        if "ignore" in raw:
            kw["ignore"] = self.ignore(raw["ignore"])
        if "timeout" in raw:
            timeout = raw["timeout"]
            valid = isinstance(timeout, int | float) and not isinstance(timeout, bool)
            if not valid or not 0 < timeout <= 3600:
                raise self.fail("timeout", f"{timeout!r}; accepted: seconds, 0 < timeout <= 3600")
            kw["timeout"] = float(timeout)
        if "failover" in raw:
            if not isinstance(raw["failover"], bool):
                raise self.fail("failover", f"{raw['failover']!r}; accepted: true or false")
            kw["failover"] = raw["failover"]
        return Case(**kw)


def _digest(files: Sequence[tuple[str, Path]]) -> str:
    # Length-prefixed framing so that (path, bytes) boundaries cannot be shifted.
    h = hashlib.sha256()
    for rel, path in sorted(files):
        data = path.read_bytes()
        name = rel.encode("utf-8")
        h.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def load_corpus(dirs: Sequence[Path]) -> Corpus:
    """Load every case of every corpus directory (each with ``cases/`` and optional ``sites/``)."""
    if not dirs:
        raise CorpusError("no corpus directory given")
    sites_dirs: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise CorpusError(f"{d}: corpus directory does not exist")
        if not (d / "cases").is_dir():
            raise CorpusError(f"{d}: corpus directory has no 'cases/' subdirectory")
        if (d / "sites").is_dir():
            sites_dirs.append(d / "sites")
    try:
        sites = discover_sites(sites_dirs)
    except SiteConfigError as exc:
        raise CorpusError(str(exc)) from None
    site_roots = {name: cfg.root for name, cfg in sites.items()}

    cases: list[Case] = []
    seen: dict[str, Path] = {}
    files: list[tuple[str, Path]] = []
    for d in dirs:
        for path in sorted(p for p in (d / "cases").rglob("*") if p.is_file()):
            files.append((path.relative_to(d).as_posix(), path))
            if path.suffix == ".yml" or path.parent != d / "cases":
                raise CorpusError(f"{path}: case files are cases/<id>.yaml (flat, '.yaml')")
            if path.suffix != ".yaml":
                continue
            try:
                raw = load_yaml(path)
            except yaml.YAMLError as exc:
                raise CorpusError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
            case = _CaseParser(path, d, site_roots).parse(raw)
            if case.id in seen:
                raise CorpusError(
                    f"{path}: field 'id': duplicate id {case.id!r}, also {seen[case.id]}"
                )
            seen[case.id] = path
            cases.append(case)
    for sd in sites_dirs:
        files.extend((p.relative_to(sd.parent).as_posix(), p) for p in sd.rglob("*") if p.is_file())
    if not cases:
        raise CorpusError(f"no case files in {', '.join(str(d / 'cases') for d in dirs)}")
    return Corpus(
        cases=cases,
        digest=_digest(files),
        dirs=tuple(dirs),
        sites_dirs=tuple(sites_dirs),
        sites=tuple(sorted(sites)),
    )
