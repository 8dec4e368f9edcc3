"""The retry delay after failures: 5 s doubling, ±10 % jitter, capped at 15 min (moved from test_store)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbfailover.core.backoff import BACKOFF_CAP_SECONDS, backoff_seconds


@pytest.mark.parametrize(
    ("attempts", "rand", "expected"),
    [
        (0, 0.5, 0.0),
        (1, 0.0, 4.5),
        (1, 1.0, 5.5),
        (2, 0.5, 10.0),
        (8, 0.0, 576.0),
        (9, 0.0, 810.0),
        (9, 1.0, 900.0),
        (10_000, 0.5, 900.0),
    ],
)
def test_backoff_seconds_table(attempts: int, rand: float, expected: float) -> None:
    """The delay is 5·2^(n-1) with ±10 % jitter, never above 15 min."""
    assert backoff_seconds(attempts, rand=lambda: rand) == pytest.approx(expected)


@given(attempts=st.integers(1, 200), r=st.floats(0.0, 1.0))
def test_backoff_bounds(attempts: int, r: float) -> None:
    """Any delay lies within ±10 % of the nominal one and never exceeds the cap (property)."""
    nominal = min(5.0 * 2.0 ** min(attempts - 1, 32), BACKOFF_CAP_SECONDS)
    delay = backoff_seconds(attempts, rand=lambda: r)
    assert 0.9 * nominal - 1e-9 <= delay <= min(1.1 * nominal, BACKOFF_CAP_SECONDS) + 1e-9
