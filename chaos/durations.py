"""Go duration strings ("10m", "500ms", "1h30m") as Chaos Mesh and Kubernetes write them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)")  # ASCII digits, as Go reads

MAX_SECONDS = (2**63 - 1) / 1e9
"""The longest Go duration (int64 nanoseconds, about 292 years): Kubernetes and Chaos Mesh refuse longer."""


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError naming the text when it is not one.

    >>> parse_duration("1h30m")
    5400.0
    >>> parse_duration("500ms")
    0.5
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"duration={text!r} is not a Go duration string such as '500ms' or '10m'")
    body = text[1:] if text[0] in "+-" else text
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        raise ValueError(f"duration={text!r} is not a Go duration string such as '500ms' or '10m'")
    return -total if text[0] == "-" else total


def format_duration(seconds: float) -> str:
    """A short Go duration string for a number of seconds (inverse of parse_duration for whole ms)."""
    if seconds < 0:
        raise ValueError(f"seconds={seconds} must be >= 0")
    ms = round(seconds * 1000)
    if ms % 60000 == 0 and ms:
        return f"{ms // 60000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def precise_duration(seconds: float) -> str:
    """A Go duration string that keeps microseconds: "31.214ms", "4s" (whole values stay short)."""
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"seconds={seconds} must be >= 0")
    us = round(seconds * 1e6)
    if us % 1000 == 0:
        return format_duration(us / 1e6)
    text = f"{us / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text}ms"


def rounded_duration(seconds: float) -> float:
    """`seconds` as a profile file keeps it (precise_duration read back): to the microsecond."""
    return parse_duration(precise_duration(seconds))
