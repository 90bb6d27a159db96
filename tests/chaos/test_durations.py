from __future__ import annotations

import pytest

from chaos.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("500ms", 0.5), ("1h30m", 5400.0), ("1.5s", 1.5), ("250us", 0.00025), ("0", 0.0)],
)
def test_parses_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "5 m", "1d", "m5", "1h-30m", "\uff12\uff10s"])
def test_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="Go duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(600, "10m"), (30, "30s"), (0.25, "250ms")])
def test_formats_short_strings_that_parse_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
