"""One exception root for everything a user can cause; the CLI maps it to one clean line."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass


def single_line(text: str) -> str:
    """`text` with every character that would break or garble a line (newline, tab, NUL, other
    control and format characters) written as its escape, so a message stays one printable line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_VALUES = reprlib.Repr()
_VALUES.maxlevel = 3
_VALUES.maxstring = _VALUES.maxother = 100
_VALUES.maxlong = 40
_VALUES.maxlist = _VALUES.maxtuple = _VALUES.maxdict = _VALUES.maxset = _VALUES.maxfrozenset = 4


def show_value(value: object) -> str:
    """A short repr: long strings, big numbers and deep or wide structures (say, the expansion of a
    YAML alias bomb) are cut, so a message about a value never costs more than its first few parts."""
    return _VALUES.repr(value)


class ChaosLabError(Exception):
    """Root of every error chaoslab reports to users as one line."""

    hint: str = ""

    def one_line(self) -> str:
        text = f"{type(self).__name__}: {self}"
        return single_line(f"{text}; {self.hint}" if self.hint else text)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where, which field, what value, why."""

    file: str
    field: str
    value: object
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        got = "" if self.value is None else f" (got {show_value(self.value)})"
        return single_line(f"{where}: {self.message}{got}")


class InvalidSpecError(ChaosLabError):
    """An experiment spec, system profile or manifest failed validation; carries every problem."""

    hint = "fix the listed fields and run `chaoslab validate` again"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class SimulationError(ChaosLabError):
    """The simulator was asked for something it cannot model."""


class PrerequisiteError(ChaosLabError):
    """Something the run needs is missing: a binary, a server, a target."""
