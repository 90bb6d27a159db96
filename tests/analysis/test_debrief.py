"""The GameDay debrief's rendering: markdown with every section, HTML in headless Chromium."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analysis.debrief import Action, Debrief, ResponseTimes, ScenarioDebrief
from analysis.debrief_render import FREE_TEXT, render_html, render_markdown
from chaos.gameday import Participant, Targets
from tests.analysis.test_report_browser import pixels_of, screenshot


def debrief() -> Debrief:
    fast = ScenarioDebrief(
        "kill half the pods",
        "pod-kill-50",
        "pod-kill-50-20261215T100000Z",
        "passed",
        ("availability above 99 %",),
        (),
        ResponseTimes(10.0, "MLServicePodsUnavailable", 30.0, "automatic", 12.0),
        (),
        (),
        (),
        81.0,
        97.0,
    )
    slow = ScenarioDebrief(
        "bad model",
        "bad-model",
        "bad-model-20261215T103000Z",
        "failed",
        (),
        ("prediction-shift alert fires",),
        ResponseTimes(None, None, 240.0, "runner (end of the chaos phase)", 40.0),
        ("recovery took 400 s, over the 300 s target",),
        ("no alert fired: the on-call had nothing to act on",),
        (Action("no alert fired: the on-call had nothing to act on", "Alex", "high"),),
    )
    people = (Participant("Priya", "ml-engineer"), Participant("Alex", "on-call"))
    return Debrief("GameDay", date(2026, 12, 15), people, Targets(120.0, 300.0, 300.0), (fast, slow))


def test_the_markdown_holds_every_section_and_the_response_times_against_targets() -> None:
    text = render_markdown(debrief())
    assert "## Scenario 1: kill half the pods" in text and "## Scenario 2: bad model" in text
    assert "| fault to first alert | 10 s (MLServicePodsUnavailable) | 120 s | met |" in text
    assert "| fault to first alert | no alert fired | 120 s | missed |" in text
    assert "| alert to mitigation | 240 s (runner (end of the chaos phase)) | 300 s | missed |" in text
    assert "| high | no alert fired: the on-call had nothing to act on | Alex |" in text
    assert all(f"### {title}" in text for title in FREE_TEXT)


@pytest.mark.e2e
def test_the_html_debrief_renders_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "gameday.html"
    page.write_text(render_html(debrief()), encoding="utf-8")
    pixels = screenshot(page, tmp_path / "debrief.png", tmp_path / "chromium", size=(1200, 1600))
    assert float((pixels.min(axis=2) < 0.95).mean()) > 0.02, "the page looks blank"
    assert pixels_of(pixels, "#e6f4ea", 0.01) > 2000, "no met response time is shaded"
    assert pixels_of(pixels, "#fce8e6", 0.01) > 2000, "no missed response time is shaded"
