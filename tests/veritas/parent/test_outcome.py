"""``percentile``: the definition the latency and duration figures use everywhere."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veritas.parent.outcome import AuditOutcome, percentile

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=300), st.integers(min_value=1, max_value=99))
def test_percentile_is_linear_between_closest_ranks(values: list[float], q: int) -> None:
    # numpy's default ("linear", R's type 7): what the figures meant before and mean now.
    expected = float(np.percentile(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize(
    "values, q, expected",
    [
        ([], 50, 0.0),
        ([7.0], 99, 7.0),
        ([1.0, 3.0], 50, 2.0),
        ([float(v) for v in range(101)], 99, 99.0),
        # 10 values: p99 sits 0.91 of the way from the 9th to the 10th, never beyond the 10th
        ([float(v) for v in range(1, 11)], 99, 9.91),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 50, 3.0),  # order of the input does not matter
    ],
)
def test_percentile_values(values: list[float], q: int, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [0, 100, 99.9, 50.5])
def test_percentiles_outside_1_to_99_are_refused(q: float) -> None:
    with pytest.raises(ValueError, match="accepted: an integer from 1 to 99"):
        percentile([1.0, 2.0], q)  # type: ignore[arg-type]


def test_latency_summary_uses_it() -> None:
    outcome = AuditOutcome("a", "u", "quick_scan", "queue", latencies_ms=[1.0, 2.0, 3.0, 4.0])
    assert outcome.latency_summary() == {"p50_ms": 2.5, "p99_ms": 3.97, "max_ms": 4.0}
