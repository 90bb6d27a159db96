"""Reading YAML mappings field by field while collecting every problem (never stopping at the first).

Each loader walks its document with a `Fields` view, asks for typed values, and calls `finish()` so
that unknown keys become problems too. When the walk is over the loader raises `InvalidSpecError`
with everything found. Values returned for a bad field are neutral placeholders (the field's default,
or zero); they are never used because the loader raises before building anything from them.

A key set to null (`key: ~` or `key:`) is read as if it were left out, as Kubernetes reads it.
Numbers must be finite (no `.nan`, no `.inf`), whole numbers must fit in 64 bits, and durations must
fit in a Go duration (about 292 years), as Kubernetes and Chaos Mesh require.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from chaos.durations import MAX_SECONDS, parse_duration
from chaos.errors import Problem

_MISSING: Any = object()
_INT64 = 2**63 - 1


class Fields:
    """A view of one mapping at `path` inside `file`."""

    def __init__(self, data: object, file: str, path: str, problems: list[Problem]) -> None:
        self.file = file
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()
        self.quiet = False  # set for an absent section: its own absence is the one problem
        if isinstance(data, dict):
            self.data: dict[str, Any] = data
        else:
            self.data = {}
            self.problem("", data, "must be a mapping")

    # -- bookkeeping -------------------------------------------------------------------------
    def where(self, key: str) -> str:
        if not key:
            return self.path
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, value: object, message: str) -> None:
        if self.quiet:
            return
        self.problems.append(Problem(self.file, self.where(key), value, message))

    def has(self, key: str) -> bool:
        """Whether the key is there with a value (a null value counts as absent)."""
        return self.data.get(key) is not None

    def _get(self, key: str, default: Any) -> Any:
        """The raw value, or `default` when the key is absent or null; `_MISSING` (already
        reported) when a required key is."""
        self._seen.add(key)
        if self.has(key):
            return self.data[key]
        if default is _MISSING:
            self.problem(key, None, "is required")
        return default

    def consume(self, *keys: str) -> None:
        """Mark keys as read by the caller (which checks their values itself)."""
        self._seen.update(keys)

    def finish(self) -> None:
        """Report keys nobody asked for: unknown fields are errors, not silently ignored."""
        for key in self.data:
            if key not in self._seen:
                self.problem(str(key), self.data[key], "is not a known field")

    # -- typed getters -----------------------------------------------------------------------
    def section(self, key: str, required: bool = True) -> Fields:
        value = self._get(key, _MISSING if required else None)
        absent = value is _MISSING or value is None
        child = Fields({} if absent else value, self.file, self.where(key), self.problems)
        child.quiet = self.quiet or value is _MISSING
        return child

    def text(
        self, key: str, default: Any = _MISSING, choices: tuple[str, ...] = (), pattern: str = ""
    ) -> str:
        value = self._get(key, default)
        if value is _MISSING:
            return ""
        if not self.has(key):
            return str(default) if default is not None else ""
        if not isinstance(value, str) or not value:
            self.problem(key, value, "must be a non-empty string")
            return ""
        if choices and value not in choices:
            self.problem(key, value, f"must be one of {', '.join(choices)}")
        if pattern and not re.fullmatch(pattern, value):
            self.problem(key, value, f"must match {pattern}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float:
        value = self._get(key, default)
        placeholder = _placeholder(default, 0.0)
        if value is None or value is _MISSING:
            return placeholder
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, value, "must be a number")
            return placeholder
        if not _finite(value):
            self.problem(key, value, "must be a finite number")
            return placeholder
        if not self._check_range(key, value, minimum, maximum, above):
            return placeholder
        return float(value)

    def integer(
        self, key: str, default: Any = _MISSING, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(key, default)
        placeholder = int(_placeholder(default, 0))
        if value is None or value is _MISSING:
            return placeholder
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, value, "must be a whole number")
            return placeholder
        if not -_INT64 <= value <= _INT64:
            self.problem(key, value, "must fit in 64 bits")
            return placeholder
        if not self._check_range(key, value, minimum, maximum, None):
            return placeholder
        return value

    def fraction(self, key: str, default: Any = _MISSING) -> float:
        """A probability in [0, 1]."""
        return self.number(key, default, minimum=0.0, maximum=1.0)

    def duration(
        self, key: str, default: Any = _MISSING, minimum: float = 0.0, positive: bool = False
    ) -> float:
        """Seconds from a Go duration string ("250ms", "10m")."""
        value = self._get(key, default)
        if value is None or value is _MISSING:
            return 0.0
        try:
            zero = isinstance(value, int | float) and not isinstance(value, bool) and value == 0
            seconds = 0.0 if zero else parse_duration(value)  # a bare 0 is a duration, as in Go
        except ValueError:
            self.problem(key, value, "must be a duration such as '500ms', '30s' or '10m'")
            return 0.0
        if positive and seconds <= 0:
            self.problem(key, value, "must be longer than 0")
        elif seconds < minimum:
            self.problem(key, value, f"must be at least {minimum} s")
        elif seconds > MAX_SECONDS:
            self.problem(key, value, "must be at most 2562047h (the longest Go duration)")
        else:
            return seconds
        return 0.0

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if value is _MISSING:
            return False
        if not isinstance(value, bool):
            self.problem(key, value, "must be true or false")
            return False
        return value

    def string_map(self, key: str, default: Any = _MISSING) -> dict[str, str]:
        value = self._get(key, default)
        if value is None or value is _MISSING:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.problem(key, value, "must be a mapping of strings to strings")
            return {}
        return dict(value)

    def strings(self, key: str, default: Any = _MISSING) -> list[str]:
        value = self._get(key, default)
        if value is None or value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, value, "must be a list of non-empty strings")
            return []
        return list(value)

    def items(self, key: str, default: Any = _MISSING) -> Iterator[Fields]:
        """Each mapping of a list field, as its own view (`key[0]`, `key[1]`, ...)."""
        value = self._get(key, default)
        if value is None or value is _MISSING:
            return
        if not isinstance(value, list):
            self.problem(key, value, "must be a list")
            return
        for index, item in enumerate(value):
            yield Fields(item, self.file, f"{self.where(key)}[{index}]", self.problems)

    def _check_range(
        self,
        key: str,
        value: float,
        minimum: float | None,
        maximum: float | None,
        above: float | None,
    ) -> bool:
        """Whether `value` is in range; reports each bound it breaks."""
        ok = True
        if minimum is not None and value < minimum:
            self.problem(key, value, f"must be >= {minimum:g}")
            ok = False
        if maximum is not None and value > maximum:
            self.problem(key, value, f"must be <= {maximum:g}")
            ok = False
        if above is not None and value <= above:
            self.problem(key, value, f"must be > {above:g}")
            ok = False
        return ok


def _finite(value: float) -> bool:
    """Whether a YAML number is a finite float (an integer too big for a float is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _placeholder(default: Any, zero: float) -> float:
    """The value returned for an absent or bad number: its default when that is a number, else zero."""
    if isinstance(default, int | float) and not isinstance(default, bool):
        return default
    return zero
