from __future__ import annotations

import random
import re

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
    assert check_mode(mode, value) is None  # valid: nothing to explain
    assert max_count(mode, value, n) == expected


@pytest.mark.parametrize(
    ("mode", "value", "why"),
    [
        ("fixed", "0", "value='0' must be > 0 for mode fixed"),
        ("fixed-percent", "0", "value='0' must be > 0 for mode fixed-percent"),
        ("fixed-percent", "101", "value='101' must be a percentage in 1..100 for mode fixed-percent"),
        ("fixed", "x", """value='x' must be a whole number (a string such as "30") for mode fixed"""),
        ("most", None, "mode='most' must be one of one, all, fixed, fixed-percent, random-max-percent"),
        # a digit to str.isdigit, not to int() nor to the controller
        (
            "fixed",
            "\u00b2",
            """value='\u00b2' must be a whole number (a string such as "30") for mode fixed""",
        ),
        ("fixed", "9" * 5000, "must have at most 18 digits for mode fixed"),  # more digits than int() reads
    ],
)
def test_invalid_modes_are_explained(mode: str, value: str | None, why: str) -> None:
    message = check_mode(mode, value)
    assert message is not None and (message == why or message.endswith(f"' {why}"))
    with pytest.raises(ValueError, match=re.escape(why)):
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
