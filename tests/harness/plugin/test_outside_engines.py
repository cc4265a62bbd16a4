"""The harness validates engines from outside: the example engine and its corpus end to end,
a bad spec as a usage error, a nondeterministic engine, and reports that name their engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
HARNESS_DIR = ROOT / "harness"
EXAMPLE = ROOT / "examples" / "engines"
TOYS = ROOT / "tests" / "engines"
pytest_plugins = ["pytester"]


def _run(pytester: pytest.Pytester, reports: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(HARNESS_DIR),
        "--stage",
        "0.1",
        "--report-dir",
        str(reports),
        "-p",
        "no:cacheprovider",
        *args,
    )


def _report(reports: Path) -> dict[str, object]:
    (path,) = reports.glob("stage-*/*/report.yaml")
    data: dict[str, object] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.slow
def test_the_example_engine_validates_over_its_corpus(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLE))
    corpus = EXAMPLE / "sitecheck-corpus"
    result = _run(
        pytester, tmp_path, "--engine", "sitecheck:audit", "--corpus", str(corpus), "-n", "2"
    )
    assert result.ret == 0, result.stdout.str()
    report = _report(tmp_path)
    cases = report["cases"]
    assert isinstance(cases, list) and len(cases) == len(list((corpus / "cases").glob("*.yaml")))
    assert {c["verdict"] for c in cases} == {"match"}
    assert all(c["runs"]["queue"]["attested_transport"] == "queue" for c in cases)
    provenance = report["provenance"]
    assert isinstance(provenance, dict)
    assert provenance["engine"]["spec"] == "sitecheck:audit"
    assert provenance["engine"]["version"] == "unpackaged"
    # Its own phases and its own final state reached the report's digests unchanged.
    first = cases[0]["runs"]["stdout"]
    assert first["state"] in ("completed", "failed")


def test_a_bad_engine_is_a_usage_error_before_any_audit(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TOYS))
    result = _run(pytester, tmp_path, "--engine", "toyengines:NOT_CALLABLE", "-p", "no:xdist")
    assert result.ret == 4
    err = result.stderr.str()
    assert "--engine: engine 'toyengines:NOT_CALLABLE': 'NOT_CALLABLE' is a int" in err
    assert not list(tmp_path.glob("stage-*"))


@pytest.fixture
def toy_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "cases").mkdir(parents=True)
    (root / "sites").mkdir()
    for i in range(2):
        (root / "cases" / f"draw{i}.yaml").write_text(
            f"id: draw{i}\nurl: http://127.0.0.1:9/draw{i}\ntier: quick_scan\ntags: [toy]\n"
        )
    return root


@pytest.mark.slow
def test_a_nondeterministic_engine_is_inconclusive_unless_a_rule_names_the_part(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_corpus: Path
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TOYS))
    rule = (
        "ignore:\n  - name: draw\n    reason: the engine draws a random number\n"
        "    paths: ['final.draw', 'events[*].summary.draw']\n"
    )
    case = toy_corpus / "cases" / "draw1.yaml"
    case.write_text(case.read_text() + rule)
    reports = tmp_path / "reports"
    args = (
        "--engine",
        "toyengines:nondeterministic",
        "--corpus",
        str(toy_corpus),
        "-p",
        "no:xdist",
    )
    result = _run(pytester, reports, *args)
    assert result.ret == 1
    verdicts = {c["id"]: c["verdict"] for c in _report(reports)["cases"]}  # type: ignore[attr-defined]
    assert verdicts == {"draw0": "inconclusive", "draw1": "ignored"}


def test_through_ws_strings_arrive_as_the_runner_delivers_them(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy_corpus: Path
) -> None:
    """Split surrogates reach the harness through the WebSocket as two code points: the
    stream's digest is the runner path's (a decoder that joined them would change it)."""
    monkeypatch.setenv("PYTHONPATH", str(TOYS))
    digests = {}
    for through in ("runner", "ws"):
        reports = tmp_path / through
        args = ("--engine", "toyengines:split_surrogates", "--corpus", str(toy_corpus))
        result = _run(pytester, reports, *args, "-p", "no:xdist", "--through", through)
        assert result.ret == 0, result.stdout.str()
        cases = _report(reports)["cases"]
        assert isinstance(cases, list)
        assert {c["verdict"] for c in cases} == {"match"}
        digests[through] = {c["id"]: c["digests"] for c in cases}
    assert digests["ws"] == digests["runner"]
