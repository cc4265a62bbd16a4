"""``harness killtest``: its check fails on each way a kill can bend the stream, and the
command kills real children and reads their record of what was accepted."""

from __future__ import annotations

import io

import pytest

from harness.cli import main
from harness.tools.killtest import check, passed, run_killtest
from veritas.parent.progress import Progress


def test_every_recorded_event_delivered_once_passes() -> None:
    assert check([0, 1, 2], [0, 1, 2])["problems"] == []


def test_the_event_being_emitted_at_the_kill_may_also_arrive() -> None:
    assert check([0, 1, 2], [0, 1, 2, 3])["problems"] == []


def test_nothing_recorded_nothing_delivered_passes() -> None:
    assert check([], [])["problems"] == []


def test_a_lost_event_is_counted() -> None:
    row = check([0, 1, 2, 3], [0, 1])
    assert (row["lost"], row["duplicated"]) == (2, 0)
    assert row["problems"] == ["2 recorded events never delivered (first: seq 2)"]


def test_a_duplicated_event_is_counted() -> None:
    row = check([0, 1, 2], [0, 1, 1, 2])
    assert (row["lost"], row["duplicated"]) == (0, 1)
    assert row["problems"] == ["1 events delivered twice"]


def test_out_of_order_or_more_than_one_extra_fails() -> None:
    assert check([0, 1, 2], [0, 2, 1])["problems"]
    assert check([0, 1], [0, 1, 2, 3])["problems"]
    assert check([0, 1], [0, 1, 5])["problems"]


def test_a_broken_record_fails() -> None:
    assert check([0, 2], [0, 1, 2])["problems"][0] == "the child's record is not 0..1"


def test_passed_needs_every_mode_clean() -> None:
    clean = {"failed": 0}
    assert passed({"modes": {"stdout": clean, "queue": clean}})
    assert not passed({"modes": {"stdout": clean, "queue": {"failed": 1}}})


@pytest.mark.slow
def test_children_killed_mid_burst_lose_nothing_in_either_mode() -> None:
    out = io.StringIO()
    with Progress("harness killtest", stream=out, live=False) as progress:
        result = run_killtest(
            None,
            2,
            7,
            synthetic=["synthetic:?events=3000&rate=3000&burst=300"],
            progress=progress,
        )
    # progress: the unkilled measurement, then each point with what it found, n/N
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/5] events=3000&rate=3000&burst=300 measured unkilled: ")
    assert sorted(line[:5] for line in lines[1:5]) == ["[2/5]", "[3/5]", "[4/5]", "[5/5]"]
    assert all(" killed at " in line and "delivered by" in line for line in lines[1:5])
    assert lines[5].startswith("harness killtest: done, 5/5 in ")
    for mode in ("stdout", "queue"):
        totals = result["modes"][mode]
        assert totals["points"] == 2 and totals["killed"] >= 1 and totals["recorded"] > 0
        assert (totals["lost"], totals["duplicated"], totals["failed"]) == (0, 0, 0), mode
        # attested by what delivered the events, not by the mode asked for
        assert {r["transport"] for r in result["rows"] if r["mode"] == mode} == {mode}


def test_killtest_refuses_a_bad_point_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["killtest", "--points", "0"]) == 2
    assert "--points 0: must be >= 1" in capsys.readouterr().err
