"""The prediction interval of the next replication: hand-computed cases and its coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.interval import coverage, prediction_interval, rank


def test_from_nineteen_values_on_it_is_the_order_statistic_interval() -> None:
    assert rank(18) == 0 and rank(19) == 1 and rank(38) == 1 and rank(39) == 2
    assert coverage(19) == pytest.approx(0.90) and coverage(39) == pytest.approx(0.90)
    assert coverage(10) == pytest.approx(9 / 11)  # [min, max] of ten holds a next one 82 % of the time
    values = np.arange(39, 0, -1, dtype=float)  # 39 .. 1, unsorted on purpose
    assert prediction_interval(values) == (2.0, 38.0)
    assert prediction_interval(values[:19]) == (21.0, 39.0)


def test_below_nineteen_it_is_students_t_for_one_future_value() -> None:
    # 1..5: mean 3, s = sqrt(2.5), t(0.95, 4) = 2.131847, sqrt(1 + 1/5)
    half = 2.131847 * math.sqrt(2.5) * math.sqrt(1.2)
    low, high = prediction_interval(np.array([3.0, 1.0, 5.0, 2.0, 4.0]))
    assert (low, high) == pytest.approx((3 - half, 3 + half), rel=1e-6)
    assert prediction_interval(np.array([3.0, 1.0, 5.0, 2.0, 4.0]), bounds=(0.0, 6.0)) == (0.0, 6.0)


def test_no_spread_gives_no_width() -> None:
    assert prediction_interval(np.array([7.0])) == (7.0, 7.0)
    assert prediction_interval(np.array([0.25] * 10)) == (0.25, 0.25)
    with pytest.raises(ValueError, match="at least one value"):
        prediction_interval(np.array([]))


@pytest.mark.parametrize(
    ("count", "draw"),
    [
        (10, lambda rng, size: rng.normal(30.0, 2.0, size)),  # Student's t on normal values
        (5, lambda rng, size: rng.normal(0.99, 0.002, size)),
        (19, lambda rng, size: rng.exponential(1.0, size)),  # order statistics, any distribution
        (40, lambda rng, size: rng.lognormal(0.0, 1.0, size)),
    ],
)
def test_the_next_value_falls_inside_nine_times_in_ten(count: int, draw: object) -> None:
    rng = np.random.default_rng(11)
    trials = 4000
    held = 0
    for _ in range(trials):
        values = draw(rng, count + 1)  # type: ignore[operator]
        low, high = prediction_interval(values[:count])
        held += bool(low <= values[count] <= high)
    # binomial sd at 4000 trials: 0.5 pp; the 5th-95th percentiles of ten values hold about 74 %
    assert 0.88 <= held / trials <= 0.925
