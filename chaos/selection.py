"""How many and which targets a Chaos Mesh selector mode picks (as the controller does).

Semantics from Chaos Mesh `pkg/selector/generic/mode.go`:
- `one`: one target at random; `all`: every target;
- `fixed`: `value` targets (capped at the number available, must be > 0);
- `fixed-percent`: ceil(n * value / 100) targets, value in 1..100 (so at least one);
- `random-max-percent`: a percentage drawn uniformly from 0..value (inclusive), then
  ceil(n * percentage / 100) targets, which can be zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from chaos.errors import show_value

MODES = ("one", "all", "fixed", "fixed-percent", "random-max-percent")

T = TypeVar("T")


class RandomSource(Protocol):
    """What selection needs from a random generator (`random.Random` and numpy's Generator adapt)."""

    def randrange(self, stop: int, /) -> int: ...


def check_mode(mode: str, value: str | None) -> str | None:
    """Why (mode, value) is invalid, or None when the controller would accept it."""
    if mode not in MODES:
        return f"mode={mode!r} must be one of {', '.join(MODES)}"
    if mode in ("one", "all"):
        return None
    text = "" if value is None else str(value).strip()
    if not re.fullmatch(r"-?[0-9]+", text):  # ASCII digits, as the controller's strconv.Atoi reads
        return f'value={show_value(value)} must be a whole number (a string such as "30") for mode {mode}'
    if len(text.lstrip("-").lstrip("0")) > 18:
        return f"value={show_value(value)} must have at most 18 digits for mode {mode}"
    number = int(text)
    if number <= 0:
        return f"value={value!r} must be > 0 for mode {mode}"
    if mode != "fixed" and number > 100:
        return f"value={value!r} must be a percentage in 1..100 for mode {mode}"
    return None


def max_count(mode: str, value: str | None, available: int) -> int:
    """The most targets the mode can pick out of `available` (the blast radius)."""
    _raise_if_invalid(mode, value)
    if available <= 0:
        return 0
    if mode == "one":
        return 1
    if mode == "all":
        return available
    number = int(str(value))
    if mode == "fixed":
        return min(number, available)
    return min(available, math.ceil(available * number / 100))


def draw_count(mode: str, value: str | None, available: int, rng: RandomSource) -> int:
    """How many targets the mode picks this time (random only for random-max-percent)."""
    if mode != "random-max-percent":
        return max_count(mode, value, available)
    _raise_if_invalid(mode, value)
    percentage = rng.randrange(int(str(value)) + 1)
    return min(available, math.ceil(available * percentage / 100))


def pick(mode: str, value: str | None, targets: Sequence[T], rng: RandomSource) -> list[T]:
    """The targets the mode selects, chosen uniformly at random without repetition."""
    count = draw_count(mode, value, len(targets), rng)
    pool = list(targets)
    chosen: list[T] = []
    for _ in range(count):
        chosen.append(pool.pop(rng.randrange(len(pool))))
    return chosen


def _raise_if_invalid(mode: str, value: str | None) -> None:
    problem = check_mode(mode, value)
    if problem:
        raise ValueError(problem)
