"""The progress reporter: numbered step lines, a redrawn status line on a terminal, plain
lines and heartbeats elsewhere, nothing when disabled."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from veritas.parent.progress import Progress, elapsed, is_live


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reporter(
    live: bool, total: int, *, heartbeat: float = 30.0, enabled: bool = True
) -> tuple[Progress, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    progress = Progress(
        "harness toy",
        total,
        stream=out,
        live=live,
        clock=clock,
        heartbeat=heartbeat,
        enabled=enabled,
    )
    return progress, out, clock


@pytest.mark.parametrize(
    "seconds, text",
    [(0.04, "0.0s"), (8.25, "8.2s"), (59.9, "59.9s"), (65, "1:05"), (3723, "1:02:03")],
)
def test_elapsed_reads_like_a_clock(seconds: float, text: str) -> None:
    assert elapsed(seconds) == text


def test_plain_lines_number_each_finished_step_with_its_result_and_time() -> None:
    progress, out, clock = reporter(live=False, total=3)
    with progress:
        with progress.step("drop@5 on clean_shop") as step:
            clock.now += 12.3
            step.result = "detected as expected (mismatch)"
        with progress.step("delay@50 on clean_shop"):
            clock.now += 2
        clock.now += 65
    assert out.getvalue().splitlines() == [
        "[1/3] drop@5 on clean_shop: detected as expected (mismatch)  12.3s",
        "[2/3] delay@50 on clean_shop  2.0s",
        "harness toy: done, 2/3 in 1:19",
    ]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_quiet_log_gets_a_heartbeat_naming_what_still_runs() -> None:
    progress, out, clock = reporter(live=False, total=11, heartbeat=30)
    with progress.step("hang@5 on clean_shop") as step:
        step.update("queue run")
        clock.now += 29
        progress.tick()
        assert out.getvalue() == ""
        clock.now += 1
        progress.tick()
        progress.tick()  # once per quiet interval, not once per tick
        clock.now += 31
        progress.tick()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[ 0/11] 30.0s | still running: hang@5 on clean_shop (queue run) 30.0s"
    assert lines[1].startswith("[ 0/11] 1:01 | still running: hang@5") and len(lines) == 3
    assert lines[2] == "[ 1/11] hang@5 on clean_shop  1:01"


def test_a_terminal_gets_a_status_line_redrawn_in_place() -> None:
    progress, out, clock = reporter(live=True, total=2)
    with progress.step("stdout run") as first, progress.step("queue run"):
        first.update("scout 35%")
        clock.now += 4
        progress.tick()
        status = out.getvalue().rsplit("\r", 1)[1]
        assert status == "[0/2] 4.0s | running: stdout run (scout 35%) 4.0s, queue run 4.0s\x1b[K"
    # a finished step's line is written over the status line, which is drawn again below it
    assert "\r\x1b[K[1/2] queue run  4.0s\n" in out.getvalue()
    assert out.getvalue().endswith("\x1b[K")


def test_a_failed_step_says_so_and_the_error_goes_on() -> None:
    progress, out, _ = reporter(live=False, total=1)
    with pytest.raises(RuntimeError), progress, progress.step("control of clean_shop"):
        raise RuntimeError("no report")
    assert out.getvalue().splitlines() == [
        "[1/1] control of clean_shop: error: RuntimeError: no report  0.0s",
        "harness toy: stopped by an error, 1/1 in 0.0s",
    ]


def test_bad_input_before_any_step_prints_no_closing_line() -> None:
    progress, out, _ = reporter(live=False, total=4)
    with pytest.raises(KeyError), progress:
        raise KeyError("no such case")
    assert out.getvalue() == ""


def test_disabled_prints_nothing_at_all() -> None:
    for live in (True, False):
        progress, out, clock = reporter(live=live, total=1, enabled=False)
        with progress, progress.step("a step") as step:
            step.update("busy")
            clock.now += 100
            progress.tick()
            progress.advance(line="counted")
            progress.note("a note")
        assert out.getvalue() == ""


def test_advance_counts_without_a_line_unless_given_one() -> None:
    progress, out, _ = reporter(live=False, total=7)
    progress.advance(line="site gen-site-0: 21 pages")
    progress.advance(5)
    progress.advance(line="the last one")
    assert out.getvalue().splitlines() == ["[1/7] site gen-site-0: 21 pages", "[7/7] the last one"]


def test_steps_on_threads_are_all_counted_once() -> None:
    progress, out, _ = reporter(live=False, total=40)

    def work(i: int) -> None:
        with progress.step(f"point {i}"):
            pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    with progress:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = out.getvalue().splitlines()
    assert sorted(line.split("]")[0] for line in lines[:-1]) == sorted(
        f"[{n:>2}/40" for n in range(1, 41)
    )
    assert lines[-1].startswith("harness toy: done, 40/40")


def test_only_a_terminal_that_can_redraw_is_live(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm-256color")
    assert is_live(Tty()) and not is_live(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not is_live(Tty())
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delenv("TERM")
    monkeypatch.delenv("WT_SESSION", raising=False)
    assert not is_live(Tty())  # the classic console might print the escapes raw
    monkeypatch.setenv("WT_SESSION", "b1c2")
    assert is_live(Tty())
