"""summary.md rendered from a run's data: overview, predicted vs observed, criteria, timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.observed import Observation, PhaseObservation, Value
from analysis.summary import fmt, fmt_interval, render_summary
from analysis.verdict import judge
from chaos.record import Event, EventKind
from tests.analysis.forecasts import estimate, forecast
from tests.runner.runner_fakes import write_experiment

ORIGIN = 1000.0


def info(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "experiment": {"source": "x.experiment.yaml"},
        "status": "passed",
        "reason": "",
        "origin": ORIGIN,
        "originUtc": "1970-01-01T00:16:40+00:00",
        "chaos": [
            {
                "chaos": "chaos-testing/fail-one",
                "action": "pod-failure",
                "targets": ["pod-1"],
                "injectedAt": ORIGIN + 10,
                "endedAt": ORIGIN + 20,
            }
        ],
        "rollback": {"done": True, "errors": []},
    }
    return {**data, **extra}


def observation() -> Observation:
    chaos = PhaseObservation(
        "chaos", 10.0, 20.0, 100, {"availability": Value(0.9, 0.85, 0.94), "latency_p95": Value(0.05)}
    )
    return Observation(0.0, (chaos,), {}, 3.0, 2.0, 0.4, 20.0)


def test_the_summary_has_every_section_and_says_what_was_predicted(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path)
    predicted = forecast(
        metrics={"availability": {"chaos": estimate(0.95, 0.93, 0.97)}},
        run_metrics={"recovery_time": estimate(2.5, 2.0, 4.0)},
        filled="availability stays above 93.00 %",
    )
    verdict = judge(experiment, observation(), [], predicted, [], chaos_start=ORIGIN + 10)
    events = [
        Event(ORIGIN + 10, EventKind.INJECT, {"chaos": "chaos-testing/fail-one", "targets": ["pod-1"]}),
        Event(ORIGIN + 11, EventKind.LOAD_STOPPED),  # not a timeline kind
        Event(ORIGIN + 12, EventKind.BREAKER_OPEN, {"pod": "pod-2"}),
    ]
    text = render_summary(experiment, info(), observation(), verdict, predicted, events)
    assert text.startswith(f"# {experiment.title}: passed\n")
    for heading in (
        "Hypothesis",
        "Before, during, after",
        "Predicted vs observed",
        "Success criteria",
        "Timeline",
    ):
        assert f"## {heading}" in text
    assert "availability stays above 93.00 %" in text
    assert (
        "- chaos: pod-failure (chaos-testing/fail-one) on pod-1, injected at 10.0 s, ended at 20.0 s" in text
    )
    assert "| availability | chaos | 95.0 % [93.0, 97.0 %] | 90.0 % | no |" in text
    assert "| recovery_time | run | 2.50 s [2.00, 4.00 s] | 3.00 s | yes |" in text
    assert "| 10.0 s | inject: chaos-testing/fail-one on pod-1 |" in text
    assert "| 12.0 s | breaker-open: pod-2 |" in text
    assert "load-stopped" not in text


def test_without_a_prediction_or_load_the_summary_says_so(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path)
    verdict = judge(experiment, None, [], None, ["aborted: x"], chaos_start=None)
    text = render_summary(experiment, info(status="aborted", reason="x", chaos=[]), None, verdict, None, [])
    assert "No prediction was made for this run (`--no-predict`)." in text
    assert "The load never started: nothing was observed." in text
    assert "- chaos: none was injected" in text
    assert "- status: **aborted** (x)" in text


def test_values_are_shown_in_the_units_people_read() -> None:
    assert fmt("availability", 0.99912) == "99.91 %"
    assert fmt("latency_p95", 0.0523) == "52 ms"
    assert fmt("recovery_time", 12.345) == "12.3 s"
    assert fmt("availability", None) == "n/a"
    assert fmt_interval("latency_p95", 0.05, 0.04, 0.06) == "50 ms [40, 60 ms]"
