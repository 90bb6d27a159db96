from __future__ import annotations

import random

import pytest

from chaos.selection import check_mode, draw_count, max_count, pick


@pytest.mark.parametrize(
    ("mode", "value", "n", "expected"),
    [
        ("one", None, 10, 1),
        ("all", None, 10, 10),
        ("fixed", "3", 10, 3),
        ("fixed", "30", 10, 10),
        ("fixed-percent", "30", 10, 3),
        ("fixed-percent", "50", 10, 5),
        ("fixed-percent", "30", 3, 1),  # ceil(0.9) = 1
        ("fixed-percent", "1", 10, 1),  # at least one
        ("fixed-percent", "34", 10, 4),  # ceil(3.4)
        ("random-max-percent", "50", 10, 5),
    ],
)
def test_max_count_follows_chaos_mesh(mode: str, value: str | None, n: int, expected: int) -> None:
    assert max_count(mode, value, n) == expected


@pytest.mark.parametrize(
    ("mode", "value"),
    [
        ("fixed", "0"),
        ("fixed-percent", "0"),
        ("fixed-percent", "101"),
        ("fixed", "x"),
        ("most", None),
        ("fixed", "\u00b2"),  # a digit to str.isdigit, not to int() nor to the controller
        ("fixed", "9" * 5000),  # more digits than int() reads
    ],
)
def test_invalid_modes_are_explained(mode: str, value: str | None) -> None:
    assert check_mode(mode, value) is not None
    with pytest.raises(ValueError, match="must"):
        max_count(mode, value, 10)


def test_random_max_percent_draws_every_count_from_zero_to_the_cap() -> None:
    rng = random.Random(7)
    seen = {draw_count("random-max-percent", "30", 10, rng) for _ in range(2000)}
    assert seen == {0, 1, 2, 3}


def test_pick_returns_distinct_targets() -> None:
    rng = random.Random(1)
    chosen = pick("fixed-percent", "50", list(range(10)), rng)
    assert len(chosen) == 5
    assert len(set(chosen)) == 5
    assert set(chosen) <= set(range(10))
