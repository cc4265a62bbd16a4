"""The case loader: the bundled corpus, every kind of broken case file, digest, ignore rules."""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness.corpus.cases import Case, CorpusError, load_corpus
from harness.corpus.siteserver import serve_sites
from veritas.diff.masking import IgnoreRule, Where, parse_selector
from veritas.engine.darkpatterns import KINDS as DARK_PATTERN_CATEGORIES
from veritas.engine.judge import RISK_LEVEL_NAMES as RISK_LEVELS
from veritas.protocol.event import TIERS

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

#: Situations the issue requires; each must be carried by at least one case's tags.
REQUIRED_TAGS = (
    "clean", "shop", "blog", "docs", "phishing", "headers", "unicode", "many_events",
    "huge_event", "redirect", "http_error", "non_html", "binary", "timeout", "progress_marker",
    "stdout", "xss", "nondeterministic", "deep",
)  # fmt: skip


@pytest.fixture(scope="module")
def bundled() -> list[Case]:
    return load_corpus([FIXTURES]).cases


def test_bundled_corpus_is_complete(bundled: list[Case]) -> None:
    assert len(bundled) >= 24
    assert len({case.id for case in bundled}) == len(bundled)
    tags = {tag for case in bundled for tag in case.tags}
    assert set(REQUIRED_TAGS) <= tags, set(REQUIRED_TAGS) - tags
    categories = {cat for case in bundled for cat in case.expect.finding_categories}
    assert set(DARK_PATTERN_CATEGORIES) <= categories
    assert sum(case.tier == "deep_forensic" for case in bundled) >= 2
    assert {case.tier for case in bundled} == set(TIERS)
    for case in bundled:
        assert set(case.expect.risk_level) <= set(RISK_LEVELS)
        assert case.source.stem == case.id


def test_nondeterministic_case_declares_named_ignore_rules(bundled: list[Case]) -> None:
    (case,) = [c for c in bundled if "nondeterministic" in c.tags]
    assert {rule.name for rule in case.ignore} >= {"quote_reference", "generated_at"}
    assert all(rule.reason for rule in case.ignore)


def test_slow_cases_delay_beyond_their_timeout(bundled: list[Case]) -> None:
    slow = [c for c in bundled if "timeout" in c.tags]
    assert slow and all(c.timeout < 30 for c in slow)


def test_every_site_case_resolves_on_the_site_server() -> None:
    corpus = load_corpus([FIXTURES])
    with serve_sites(corpus.sites_dirs) as srv:
        case = corpus.by_id("clean_blog")
        with urllib.request.urlopen(case.target_url(srv), timeout=10) as resp:
            assert b"Field Notes" in resp.read()
        for case in corpus.cases:
            assert case.target_url(srv).startswith(("http://127.0.0.1:", "file://"))
    with pytest.raises(CorpusError, match="needs the site server"):
        corpus.by_id("clean_blog").target_url()
    with pytest.raises(KeyError, match="no case 'nope'"):
        corpus.by_id("nope")


# --- broken case files ---------------------------------------------------------------------

GOOD = "id: {id}\nsite: shop\ntier: quick_scan\ntags: [clean]\n"


def make_corpus(root: Path, cases: dict[str, str], *, site: str = "shop") -> Path:
    (root / "cases").mkdir(parents=True, exist_ok=True)
    (root / "sites" / site).mkdir(parents=True, exist_ok=True)
    (root / "sites" / site / "index.html").write_text("<p>hi</p>", encoding="utf-8")
    for name, text in cases.items():
        (root / "cases" / name).write_text(text, encoding="utf-8")
    return root


BROKEN: list[tuple[str, str, str]] = [
    ("tier: quick_scan\nsite: shop\ntags: [a]\n", "'id'", "is required"),
    (
        "id: other\nsite: shop\ntier: quick_scan\ntags: [a]\n",
        "'id'",
        "must equal the file name stem",
    ),
    (
        "id: c\nsite: shop\ntier: fast\ntags: [a]\n",
        "'tier'",
        "accepted: quick_scan, standard_audit",
    ),
    ("id: c\nsite: shop\ntier: quick_scan\ntags: []\n", "'tags'", "non-empty list"),
    ("id: c\nsite: shop\ntier: quick_scan\ntags: [Bad Tag]\n", "'tags'", "'Bad Tag' is not a tag"),
    (GOOD.format(id="c") + "colour: red\n", "'colour'", "unknown key; accepted:"),
    ("id: c\ntier: quick_scan\ntags: [a]\n", "'site'", "exactly one of site, url, file"),
    (GOOD.format(id="c") + "url: http://x.invalid/\n", "'site'", "exactly one of site, url, file"),
    (
        "id: c\nsite: bank\ntier: quick_scan\ntags: [a]\n",
        "'site'",
        "unknown site 'bank'; sites: shop",
    ),
    ("id: c\nurl: http://x/\npath: /a\ntier: quick_scan\ntags: [a]\n", "'path'", "only allowed"),
    (GOOD.format(id="c") + "path: a.html\n", "'path'", "must start with '/'"),
    ("id: c\nurl: ftp://x/\ntier: quick_scan\ntags: [a]\n", "'url'", "accepted: an absolute http"),
    ("id: c\nfile: nope.html\ntier: quick_scan\ntags: [a]\n", "'file'", "is not a file"),
    (GOOD.format(id="c") + "expect: {min_hits: 1}\n", "'expect'", "unknown key(s) ['min_hits']"),
    (GOOD.format(id="c") + "expect: [1]\n", "'expect'", "must be a mapping"),
    (
        GOOD.format(id="c") + "expect: {risk_level: safe}\n",
        "'expect.risk_level'",
        "accepted: trusted",
    ),
    (GOOD.format(id="c") + "expect: {final_type: done}\n", "'expect.final_type'", "accepted:"),
    (GOOD.format(id="c") + "expect: {min_events: -1}\n", "'expect.min_events'", "integer >= 0"),
    (GOOD.format(id="c") + "expect: {min_findings: 'x'}\n", "'expect.min_findings'", ">= 0"),
    (GOOD.format(id="c") + "expect: {finding_categories: [Fake Cat]}\n", "categories", "accepted:"),
    (GOOD.format(id="c") + "ignore: {name: x}\n", "'ignore'", "must be a list"),
    (
        GOOD.format(id="c") + "ignore: [{name: x, paths: [final]}]\n",
        "'ignore[0].reason'",
        "required",
    ),
    (
        GOOD.format(id="c") + "ignore: [{name: x, reason: r, paths: [final], why: y}]\n",
        "'ignore[0]'",
        "unknown key(s) ['why']",
    ),
    (GOOD.format(id="c") + "ignore: [{name: x, reason: r, paths: []}]\n", "paths'", "non-empty"),
    (
        GOOD.format(id="c") + "ignore: [{name: x, reason: r, paths: [pages.text]}]\n",
        "'ignore[0].paths'",
        "must start with 'events' or 'final'",
    ),
    (
        GOOD.format(id="c") + "ignore: [{name: x, reason: r, paths: ['final..a']}]\n",
        "'ignore[0].paths'",
        "unexpected",
    ),
    (
        GOOD.format(id="c") + "ignore: [{name: x, reason: r, paths: [final], pattern: '('}]\n",
        "'ignore[0].pattern'",
        "not a valid regex",
    ),
    (
        GOOD.format(id="c")
        + "ignore: [{name: x, reason: r, paths: [final]}, {name: x, reason: r, paths: [final]}]\n",
        "'ignore[1].name'",
        "duplicate ignore rule name",
    ),
    (GOOD.format(id="c") + "timeout: 0\n", "'timeout'", "0 < timeout <= 3600"),
    (GOOD.format(id="c") + "timeout: soon\n", "'timeout'", "accepted: seconds"),
    (GOOD.format(id="c") + "failover: yes please\n", "'failover'", "accepted: true or false"),
]


@pytest.mark.parametrize(("text", "field", "message"), BROKEN)
def test_broken_case_file_names_file_field_and_problem(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    root = make_corpus(tmp_path, {"c.yaml": text})
    with pytest.raises(CorpusError) as info:
        load_corpus([root])
    error = str(info.value)
    assert error.startswith(str(root / "cases" / "c.yaml") + ": ")
    assert field in error
    assert message in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: c\nid: d\n", "duplicate key 'id'"),
        ("id: [c\n", "not valid YAML"),
        ("- just\n- a list\n", "a case file must be a YAML mapping"),
        ("", "a case file must be a YAML mapping"),
    ],
)
def test_unparseable_case_files(tmp_path: Path, text: str, message: str) -> None:
    root = make_corpus(tmp_path, {"c.yaml": text})
    with pytest.raises(CorpusError, match=message):
        load_corpus([root])


def test_file_target_must_stay_inside_the_corpus(tmp_path: Path) -> None:
    (tmp_path / "outside.html").write_text("<p>x</p>", encoding="utf-8")
    root = make_corpus(
        tmp_path / "corpus",
        {"c.yaml": "id: c\nfile: ../../outside.html\ntier: quick_scan\ntags: [a]\n"},
    )
    with pytest.raises(CorpusError, match="must stay inside"):
        load_corpus([root])


def test_file_target_resolves_relative_to_the_case_file(tmp_path: Path) -> None:
    root = make_corpus(
        tmp_path, {"c.yaml": "id: c\nfile: ../sites/shop/index.html\ntier: quick_scan\ntags: [a]\n"}
    )
    (case,) = load_corpus([root]).cases
    assert case.file == (root / "sites" / "shop" / "index.html").resolve()
    assert case.target_url().startswith("file:///")


def test_defaults(tmp_path: Path) -> None:
    (case,) = load_corpus([make_corpus(tmp_path, {"c.yaml": GOOD.format(id="c")})]).cases
    assert (case.path, case.timeout, case.failover, case.ignore) == ("/", 60.0, False, ())
    assert case.expect.final_type is None


def test_duplicate_ids_across_dirs(tmp_path: Path) -> None:
    one = make_corpus(tmp_path / "one", {"c.yaml": GOOD.format(id="c")})
    two = make_corpus(tmp_path / "two", {"c.yaml": GOOD.format(id="c")}, site="other")
    with pytest.raises(CorpusError, match=r"field 'id': duplicate id 'c', also .*one"):
        load_corpus([one, two])


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "corpus directory does not exist"),
        ("no_cases", "has no 'cases/' subdirectory"),
        ("empty", "no case files in"),
        ("yml", "case files are cases/<id>.yaml"),
        ("nested", "case files are cases/<id>.yaml"),
        ("bad_sidecar", "unknown key(s) ['colour']"),
    ],
)
def test_bad_corpus_directories(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "corpus"
    if layout == "no_cases":
        root.mkdir()
    elif layout == "empty":
        make_corpus(root, {})
    elif layout == "yml":
        make_corpus(root, {"c.yml": GOOD.format(id="c")})
    elif layout == "nested":
        make_corpus(root, {})
        (root / "cases" / "sub").mkdir()
        (root / "cases" / "sub" / "c.yaml").write_text(GOOD.format(id="c"), encoding="utf-8")
    elif layout == "bad_sidecar":
        make_corpus(root, {"c.yaml": GOOD.format(id="c")})
        (root / "sites" / "shop" / "site.yaml").write_text("colour: red\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=re.escape(message)):
        load_corpus([root])
    with pytest.raises(CorpusError, match="no corpus directory given"):
        load_corpus([])


def test_external_corpus_dir_with_the_bundled_one(tmp_path: Path) -> None:
    ext = make_corpus(
        tmp_path / "ext",
        {
            "ext_shop.yaml": "id: ext_shop\nsite: ext-shop\ntier: quick_scan\ntags: [external]\n",
            "ext_bank.yaml": "id: ext_bank\nsite: norbridge-bank\ntier: quick_scan\ntags: [ext]\n",
        },
        site="ext-shop",
    )
    corpus = load_corpus([FIXTURES, ext])
    ids = {case.id for case in corpus.cases}
    assert {"ext_shop", "ext_bank", "clean_shop"} <= ids
    assert "ext-shop" in corpus.sites and "northwind-shop" in corpus.sites
    with serve_sites(corpus.sites_dirs) as srv:
        url = corpus.by_id("ext_shop").target_url(srv)
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"<p>hi</p>"


# --- digest -----------------------------------------------------------------------------------


def test_digest_is_stable_and_location_independent(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "copy")
    first = load_corpus([FIXTURES]).digest
    assert first == load_corpus([FIXTURES]).digest
    assert first == load_corpus([tmp_path / "copy"]).digest
    assert len(first) == 64


@pytest.mark.parametrize(
    "change",
    ["case_byte", "site_byte", "sidecar_byte", "new_site_file", "rename_site_file", "binary_file"],
)
def test_digest_changes_with_any_case_or_site_byte(tmp_path: Path, change: str) -> None:
    root = make_corpus(tmp_path, {"c.yaml": GOOD.format(id="c")})
    (root / "sites" / "shop" / "site.yaml").write_text("headers: []\n", encoding="utf-8")
    (root / "sites" / "shop" / "logo.bin").write_bytes(b"\x00\x01")
    before = load_corpus([root]).digest
    site = root / "sites" / "shop"
    if change == "case_byte":
        (root / "cases" / "c.yaml").write_text(GOOD.format(id="c") + "\n", encoding="utf-8")
    elif change == "site_byte":
        (site / "index.html").write_text("<p>hi!</p>", encoding="utf-8")
    elif change == "sidecar_byte":
        (site / "site.yaml").write_text("headers: [] \n", encoding="utf-8")
    elif change == "new_site_file":
        (site / "about.html").write_text("", encoding="utf-8")
    elif change == "rename_site_file":
        (site / "index.html").rename(site / "home.html")
    else:
        (site / "logo.bin").write_bytes(b"\x00\x02")
    assert load_corpus([root]).digest != before


# --- ignore rules -----------------------------------------------------------------------------


def test_parse_selector() -> None:
    assert parse_selector("events[*].summary.pages[0].text") == (
        "events", "*", "summary", "pages", 0, "text",
    )  # fmt: skip
    assert parse_selector("final.**") == ("final", "**")
    assert parse_selector("events[type=screenshot].data") == (
        "events",
        Where("type", "screenshot"),
        "data",
    )
    for bad in ("pages", "final.", "final[x", "events[*]text"):
        with pytest.raises(ValueError, match=r"must start with|unexpected"):
            parse_selector(bad)


DOC: dict[str, Any] = {
    "events": [
        {"type": "log", "detail": "ref QB-1 ok", "summary": {"pages": [{"text": "QB-2 and QB-3"}]}},
        {"type": "screenshot", "data": "png", "summary": {"digest": "abc"}},
    ],
    "final": {"pages": [{"text": "QB-4", "text_sha256": "f00"}], "score": 90},
}


def test_ignore_whole_values_by_path_and_filter() -> None:
    rule = IgnoreRule("shots", "r", ("events[type=screenshot].data", "final.pages[*].text_sha256"))
    out, count = rule.apply(DOC)
    assert count == 2
    assert out["events"][1]["data"] == "<ignored:shots>"
    assert out["events"][0] == DOC["events"][0]
    assert out["final"]["pages"][0] == {"text": "QB-4", "text_sha256": "<ignored:shots>"}
    assert DOC["events"][1]["data"] == "png"  # the input is not changed


def test_ignore_pattern_masks_only_the_matching_part_at_any_depth() -> None:
    rule = IgnoreRule("ref", "r", ("events[*].**", "final.**"), pattern=r"QB-\d")
    out, count = rule.apply(DOC)
    assert count == 4
    assert out["events"][0]["detail"] == "ref <ignored:ref> ok"
    assert out["events"][0]["summary"]["pages"][0]["text"] == "<ignored:ref> and <ignored:ref>"
    assert out["final"] == {"pages": [{"text": "<ignored:ref>", "text_sha256": "f00"}], "score": 90}


def test_ignore_double_star_then_key() -> None:
    out, count = IgnoreRule("t", "r", ("events[*].**.text",)).apply(DOC)
    assert count == 1
    assert out["events"][0]["summary"]["pages"][0]["text"] == "<ignored:t>"
    assert out["final"] == DOC["final"]


def test_ignore_nothing_selected() -> None:
    out, count = IgnoreRule("t", "r", ("final.missing[3].x", "events[9]")).apply(DOC)
    assert (out, count) == (DOC, 0)
