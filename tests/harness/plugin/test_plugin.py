"""The plugin end to end with pytester: the same verdicts without xdist, with -n 0 and -n 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

HARNESS_DIR = Path(__file__).resolve().parents[3] / "harness"
pytest_plugins = ["pytester"]

PAGE = """<!doctype html><html><head><title>Tiny shop</title></head><body>
<h1>Tiny shop</h1><p>Only 2 left in stock! Reference {{random}}.</p></body></html>"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for site, dynamic in (("steady", False), ("moving", True)):
        (root / "sites" / site).mkdir(parents=True)
        (root / "sites" / site / "index.html").write_text(
            PAGE.replace("{{random}}", "R-1") if not dynamic else PAGE
        )
        rules = "rules:\n  - match: /\n    dynamic: [random]\n" if dynamic else "rules: []\n"
        (root / "sites" / site / "site.yaml").write_text(f"description: test site\n{rules}")
    cases = root / "cases"
    cases.mkdir()
    (cases / "steady.yaml").write_text(
        "id: steady\nsite: steady\ntier: quick_scan\ntags: [clean]\n"
    )
    (cases / "moving.yaml").write_text(
        "id: moving\nsite: moving\ntier: quick_scan\ntags: [nondeterministic]\n"
        "ignore:\n  - name: reference\n    reason: random per request\n"
        "    paths: ['events[*].**', 'final.**']\n    pattern: '[0-9a-f]{16}'\n"
        "  - name: derived\n    reason: hash and pixels of the changing text\n"
        "    paths: ['events[*].**.text_sha256', 'final.**.text_sha256', 'events[type=screenshot].data',"
        " 'events[type=screenshot].summary.digest', 'final.screenshots[*].digest']\n"
    )
    return root


@pytest.fixture(params=[("-p", "no:xdist"), ("-n", "0"), ("-n", "2")], ids=["no-xdist", "n0", "n2"])
def xdist_args(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return tuple(request.param)


def _run(pytester: pytest.Pytester, corpus: Path, reports: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(HARNESS_DIR),
        "--stage",
        "0.25",
        "--corpus",
        str(corpus),
        "--report-dir",
        str(reports),
        "-p",
        "no:cacheprovider",
        *args,
    )


def test_verdicts_are_the_same_every_way(
    pytester: pytest.Pytester,
    corpus: Path,
    tmp_path: Path,
    xdist_args: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    reports = tmp_path / "reports"
    result = _run(pytester, corpus, reports, *xdist_args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*stage 0.25: 2 cases — 1 match, 1 ignored, 0 mismatch, 0 inconclusive*"]
    )
    (run,) = list((reports / "stage-0.25").iterdir())
    report = yaml.safe_load((run / "report.yaml").read_text())
    assert {c["id"]: c["verdict"] for c in report["cases"]} == {
        "steady": "match",
        "moving": "ignored",
    }
    assert report["totals"]["queue_attested"] == 2
    assert {c["runs"]["queue"]["attested_transport"] for c in report["cases"]} == {"queue"}
    assert (run / "index.html").is_file() and (run / "summary.md").is_file()


@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
def test_noise_runs_only_where_the_streams_differ_and_the_verdicts_stay(
    pytester: pytest.Pytester,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    eager: bool,
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    bare = corpus / "cases" / "bare.yaml"  # the moving site without its ignore rules
    bare.write_text("id: bare\nsite: moving\ntier: quick_scan\ntags: [nondeterministic]\n")
    reports = tmp_path / "reports"
    result = _run(
        pytester, corpus, reports, "-p", "no:xdist", *(["--eager-noise"] if eager else [])
    )
    result.assert_outcomes(passed=2, failed=1)
    (run,) = list((reports / "stage-0.25").iterdir())
    report = yaml.safe_load((run / "report.yaml").read_text())
    cases = {c["id"]: c for c in report["cases"]}
    assert {i: c["verdict"] for i, c in cases.items()} == {
        "steady": "match",
        "moving": "ignored",
        "bare": "inconclusive",
    }
    noise = {i: len(c["runs"]["noise"]) for i, c in cases.items()}
    assert noise == (
        {"steady": 1, "moving": 1, "bare": 1} if eager else {"steady": 0, "moving": 0, "bare": 1}
    )
    assert report["totals"]["audits_per_mode"] == {"stdout": 3 + sum(noise.values()), "queue": 3}
    assert report["settings"]["eager_noise"] is eager
    if not eager:
        assert (
            cases["steady"]["runs"]["noise_why"] == "not needed: without them the verdict is match"
        )
        assert cases["bare"]["runs"]["noise_why"].startswith("the Queue stream differs from stdout")


def test_without_its_ignore_rule_the_nondeterministic_case_is_inconclusive(
    pytester: pytest.Pytester, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    case = corpus / "cases" / "moving.yaml"
    case.write_text(case.read_text().split("ignore:")[0])
    result = _run(pytester, corpus, tmp_path / "r", "-k", "moving")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*case moving: INCONCLUSIVE*", "*noise: stdout runs differ*", "*repro:*"]
    )


def test_a_silent_fallback_fails_the_case(
    pytester: pytest.Pytester, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    monkeypatch.setenv("VERITAS_IPC_FAULT", "connect")
    result = _run(pytester, corpus, tmp_path / "r", "-k", "steady")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Queue run not attested*"])


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("--stage", "0.3"),
            "*--stage '0.3' is not a rollout stage; accepted: 0.1, 0.25, 0.5, 0.75, 1.0*",
        ),
        (("--shard", "3/2"), "*--shard '3/2' is invalid*"),
        (("--corpus", "/nonexistent-corpus"), "*corpus directory does not exist*"),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest_subprocess(str(HARNESS_DIR), "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_broken_case_file_fails_collection_loudly(
    pytester: pytest.Pytester, corpus: Path, tmp_path: Path
) -> None:
    (corpus / "cases" / "steady.yaml").write_text(
        "id: steady\nsite: steady\ntier: warp_speed\ntags: [x]\n"
    )
    result = _run(pytester, corpus, tmp_path / "r")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken corpus:*steady.yaml*tier*warp_speed*"])


def test_shards_cover_the_corpus_once() -> None:
    from harness.plugin.items import in_shard

    ids = [f"case-{i}" for i in range(200)]
    owners = [[k for k in range(1, 4) if in_shard(i, (k, 3))] for i in ids]
    assert all(len(o) == 1 for o in owners)


def test_an_unrelated_project_runs_normally_beside_the_plugin(tmp_path: Path) -> None:
    """Loaded (here explicitly) but not used, the plugin checks nothing and collects nothing."""
    import os
    import subprocess
    import sys

    project = tmp_path / "elsewhere"
    project.mkdir()
    (project / "test_unrelated.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    env = {**os.environ, "VERITAS_CHROMIUM": "/nonexistent", "QUEUE_IPC_ROLLOUT": "abc"}
    for plugin in ([], ["-p", "harness.plugin.hooks"]):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1 passed" in proc.stdout
    # The same settings are refused as soon as the plugin is used.
    used = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "harness.plugin.hooks", "--stage", "0.1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert used.returncode == 4 and "QUEUE_IPC_ROLLOUT" in used.stderr + used.stdout


def _verdicts(reports: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    (run,) = list((reports / "stage-0.25").iterdir())
    report = yaml.safe_load((run / "report.yaml").read_text())
    return report, {c["id"]: c for c in report["cases"]}


@pytest.mark.parametrize("xdist", [("-p", "no:xdist"), ("-n", "2")], ids=["no-xdist", "n2"])
def test_through_ws_gives_the_runners_verdicts_attested_by_the_outcome_frame(
    pytester: pytest.Pytester,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    xdist: tuple[str, ...],
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    bare = corpus / "cases" / "bare.yaml"  # the moving site without its ignore rules
    bare.write_text("id: bare\nsite: moving\ntier: quick_scan\ntags: [nondeterministic]\n")
    by_runner = _run(pytester, corpus, tmp_path / "runner", "-p", "no:xdist")
    by_runner.assert_outcomes(passed=2, failed=1)
    through_ws = _run(pytester, corpus, tmp_path / "ws", "--through", "ws", *xdist)
    through_ws.assert_outcomes(passed=2, failed=1)
    through_ws.stdout.fnmatch_lines(["*compared through: ws*", "*case bare: INCONCLUSIVE*"])
    runner_report, runner_cases = _verdicts(tmp_path / "runner")
    ws_report, ws_cases = _verdicts(tmp_path / "ws")
    assert (runner_report["settings"]["through"], ws_report["settings"]["through"]) == (
        "runner",
        "ws",
    )
    assert (
        {i: c["verdict"] for i, c in ws_cases.items()}
        == {i: c["verdict"] for i, c in runner_cases.items()}
        == {"steady": "match", "moving": "ignored", "bare": "inconclusive"}
    )
    assert ws_report["totals"]["queue_attested"] == 3
    for case in ws_cases.values():
        queue, stdout = case["runs"]["queue"], case["runs"]["stdout"]
        # what the ipc_outcome frame said, as the runner path says it
        assert queue["attested_transport"] == "queue" and queue["mode_used"] == "queue"
        assert queue["events_by_transport"] == {"queue": queue["events"], "stdout": 0}
        assert stdout["events_by_transport"] == {"queue": 0, "stdout": stdout["events"]}
        assert queue["events"] == runner_cases[case["id"]]["runs"]["queue"]["events"] > 0
        assert queue["exit_code"] == 0 and queue["latency"]["p50_ms"] > 0
    # the backend's stores were its own, and are gone
    assert not list((tmp_path / "ws").glob(".work/*.backend-*"))


def test_through_ws_a_silent_fallback_fails_the_case(
    pytester: pytest.Pytester, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITAS_RENDERER", "pillow")
    monkeypatch.setenv("VERITAS_IPC_FAULT", "connect")
    result = _run(pytester, corpus, tmp_path / "r", "-k", "steady", "--through", "ws")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Queue run not attested*", "*compared through: ws*"])
    _, cases = _verdicts(tmp_path / "r")
    queue = cases["steady"]["runs"]["queue"]
    assert queue["fallback"] is True and queue["attested_transport"] == "stdout"


def test_through_must_be_runner_or_ws(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        str(HARNESS_DIR), "-p", "no:cacheprovider", "--stage", "0.1", "--through", "http"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--through*invalid choice*'http'*runner*ws*"])
