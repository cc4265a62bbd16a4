from __future__ import annotations

import itertools

import pytest

from veritas.parent.mode import ConfigError, bucket_of, parse_rollout, select_mode

URL = "https://shop.example/"


@pytest.mark.parametrize(
    "q, s, env_mode, expected, source",
    [
        (True, False, None, "queue", "flag"),
        (False, True, None, "stdout", "flag"),
        (True, True, None, "queue", "flag"),  # both flags: Queue wins
        (False, True, "queue", "stdout", "flag"),  # flag beats env
        (True, False, "stdout", "queue", "flag"),
        (False, False, "queue", "queue", "QUEUE_IPC_MODE"),
        (False, False, "stdout", "stdout", "QUEUE_IPC_MODE"),
        (False, False, "fallback", "stdout", "QUEUE_IPC_MODE"),
        (False, False, " Queue ", "queue", "QUEUE_IPC_MODE"),
    ],
)
def test_precedence_matrix(
    q: bool, s: bool, env_mode: str | None, expected: str, source: str
) -> None:
    env = {"QUEUE_IPC_ROLLOUT": "0.0"}  # rollout alone would say stdout
    if env_mode is not None:
        env["QUEUE_IPC_MODE"] = env_mode
    decision = select_mode(URL, use_queue_ipc=q, use_stdout=s, env=env)
    assert (decision.mode, decision.source) == (expected, source)


def test_rollout_decides_when_nothing_else_does() -> None:
    assert select_mode(URL, env={"QUEUE_IPC_ROLLOUT": "1.0"}).mode == "queue"
    assert select_mode(URL, env={"QUEUE_IPC_ROLLOUT": "0"}).mode == "stdout"
    assert parse_rollout({}) == 0.1


@pytest.mark.parametrize("raw", ["abc", "1.5", "-0.1", "nan", "inf", "10%"])
def test_bad_rollout_is_a_clear_error(raw: str) -> None:
    with pytest.raises(
        ConfigError, match=r"QUEUE_IPC_ROLLOUT=.*accepted: a number from 0.0 to 1.0"
    ):
        select_mode(URL, env={"QUEUE_IPC_ROLLOUT": raw})


def test_bad_mode_is_a_clear_error_even_with_a_flag() -> None:
    with pytest.raises(ConfigError, match=r"QUEUE_IPC_MODE='sometimes'.*queue, stdout, fallback"):
        select_mode(URL, use_queue_ipc=True, env={"QUEUE_IPC_MODE": "sometimes"})


def test_bucketing_is_sticky_and_nested() -> None:
    urls = [f"https://site{i}.example/" for i in range(2000)]
    cohorts = {}
    for stage in (0.1, 0.25, 0.5, 0.75, 1.0):
        env = {"QUEUE_IPC_ROLLOUT": str(stage)}
        cohorts[stage] = {u for u in urls if select_mode(u, env=env).mode == "queue"}
    stages = sorted(cohorts)
    for low, high in itertools.pairwise(stages):
        assert cohorts[low] <= cohorts[high], f"a site left the Queue going {low} -> {high}"
    assert abs(len(cohorts[0.25]) / len(urls) - 0.25) < 0.05
    assert len(cohorts[1.0]) == len(urls)
    assert bucket_of(URL) == bucket_of(URL)
