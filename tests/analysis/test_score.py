"""Scores of a prediction: grades, the interval score, confidence and resilience, coverage.

The score properties are checked with hypothesis over arbitrary predictions and observations; the
statistics against scipy and hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.alert_score import observed_firing, score_alerts
from analysis.coverage import coverage, pooled_coverage
from analysis.score import (
    CRITICAL_CAP,
    CriterionScore,
    MetricScore,
    ScoreCard,
    confidence_score,
    criterion_score,
    critical_metrics,
    metric_score,
    resilience_score,
)
from analysis.signals import AlertInterval
from analysis.stats import compare_distributions, interval_score, sample_of_sketch
from analysis.tolerances import TOLERANCES, Grade, Tolerance, grade
from analysis.verdict import CriterionResult
from chaos.spec import PodsReadyCriterion, ThresholdCriterion
from sim.forecast_summary import AlertSummary
from sim.montecarlo import Estimate
from sim.result import SKETCH_LEVELS
from tests.runner.runner_fakes import write_experiment

settings.register_profile("chaoslab", derandomize=True, max_examples=200, deadline=None)
settings.load_profile("chaoslab")

METRIC = st.sampled_from(sorted(TOLERANCES))
FINITE = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


@st.composite
def predictions(draw: st.DrawFn) -> Estimate:
    low = draw(FINITE)
    high = draw(st.floats(low, low + 10.0, allow_nan=False))
    point = draw(st.floats(low, high, allow_nan=False))
    return Estimate(point, low, high, 10)


def scored(metric: str, observed: float, predicted: Estimate, critical: bool = False) -> MetricScore:
    result = metric_score(metric, "chaos", observed, (None, None), predicted, critical)
    assert result is not None
    return result


# -- the interval score --------------------------------------------------------------------------
def test_the_interval_score_by_hand() -> None:
    assert interval_score(5.0, 4.0, 6.0) == 2.0  # covered: the width
    assert interval_score(7.0, 4.0, 6.0) == pytest.approx(2.0 + 20.0 * 1.0)  # 2/alpha per unit missed
    assert interval_score(3.5, 4.0, 6.0, alpha=0.5) == pytest.approx(2.0 + 4.0 * 0.5)
    with pytest.raises(ValueError, match=r"alpha=1\.5"):
        interval_score(1.0, 0.0, 2.0, alpha=1.5)


@given(predictions(), st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_a_wider_interval_never_improves_the_score_of_a_covered_point(
    p: Estimate, wider_low: float, wider_high: float
) -> None:
    assert p.point is not None and p.low is not None and p.high is not None
    x = p.point
    assert interval_score(x, p.low - wider_low, p.high + wider_high) >= interval_score(x, p.low, p.high)


# -- grades and the confidence score -------------------------------------------------------------
@given(METRIC, predictions())
def test_a_perfect_prediction_scores_100(metric: str, p: Estimate) -> None:
    assert p.point is not None
    card = [scored(metric, p.point, p, critical=True), scored(metric, p.point, p)]
    assert confidence_score(card) == 100.0


@given(METRIC, predictions(), st.floats(0.0, 1.0), st.floats(0.0, 20.0), st.booleans(), st.booleans())
def test_moving_an_observation_out_of_its_interval_never_raises_the_score(
    metric: str, p: Estimate, where: float, beyond: float, above: bool, critical: bool
) -> None:
    assert p.low is not None and p.high is not None
    inside = p.low + where * (p.high - p.low)
    outside = p.high + beyond + 1e-6 if above else p.low - beyond - 1e-6
    other = scored("availability", 0.5, Estimate(0.5, 0.4, 0.6, 10))
    before = confidence_score([scored(metric, inside, p, critical), other])
    after = confidence_score([scored(metric, outside, p, critical), other])
    assert before is not None and after is not None and after <= before


@given(METRIC, predictions(), st.lists(st.tuples(METRIC, predictions()), max_size=6))
def test_a_critical_fail_caps_the_score(metric: str, p: Estimate, others: list[tuple[str, Estimate]]) -> None:
    assert p.high is not None and p.point is not None
    tol = TOLERANCES[metric].at(p.point)
    failed = scored(metric, p.high + 2 * tol + abs(p.high - p.point) + 1.0, p, critical=True)
    assert failed.grade == Grade.FAIL
    rest = [scored(m, e.point, e) for m, e in others if e.point is not None]
    score = confidence_score([failed, *rest])
    assert score is not None and score <= CRITICAL_CAP


def test_the_grades_by_hand() -> None:
    tol = Tolerance(0.005)
    assert grade(0.995, Estimate(0.994, 0.993, 0.996, 10), tol) == Grade.PASS  # inside a sharp interval
    assert grade(0.90, Estimate(0.99, 0.80, 1.0, 10), tol) == Grade.MARGINAL  # inside, wide, point far
    assert grade(0.9945, Estimate(0.99, 0.80, 1.0, 10), tol) == Grade.PASS  # inside, wide, point close
    assert grade(0.989, Estimate(0.995, 0.994, 0.996, 10), tol) == Grade.MARGINAL  # out, within 2 tol
    assert grade(0.980, Estimate(0.995, 0.994, 0.996, 10), tol) == Grade.FAIL
    assert grade(0.98, Estimate(None, None, None, 0), tol) is None
    p95 = TOLERANCES["latency_p95"]
    assert p95.at(0.300) == pytest.approx(0.030) and p95.at(0.010) == 0.002  # 10 %, at least 2 ms


def test_critical_metrics_are_what_the_criteria_and_blanks_name(tmp_path: Path) -> None:
    criteria: list[dict[str, Any]] = [
        {"name": "available", "metric": "availability", "phase": "chaos", "above": "99%"},
        {"name": "back", "podsReady": {"within": "60s"}},
    ]
    experiment = write_experiment(tmp_path, criteria=criteria)
    assert {("availability", "chaos"), ("recovery_time", None)} <= critical_metrics(experiment)
    assert ("latency_p99", "baseline") not in critical_metrics(experiment)


# -- resilience -----------------------------------------------------------------------------------
def test_resilience_counts_held_criteria_by_their_margin() -> None:
    available = ThresholdCriterion("available", "availability", "chaos", ">", 0.99)
    fast = ThresholdCriterion("fast", "latency_p95", "chaos", "<", 0.3)
    back = PodsReadyCriterion("back", 60.0)

    def result(name: str, value: float, passed: bool = True) -> CriterionResult:
        return CriterionResult(name, "x", "x", value, passed)

    held = criterion_score(available, result("available", 0.995))
    assert held.margin == pytest.approx(0.5) and held.credit == pytest.approx(0.75)
    assert criterion_score(fast, result("fast", 0.075)).margin == pytest.approx(0.75)
    assert criterion_score(back, result("back", 15.0)).margin == pytest.approx(0.75)
    assert criterion_score(available, result("available", 0.98, passed=False)).credit == 0.0
    assert resilience_score([held, CriterionScore("alerts", True, None)]) == pytest.approx(87.5)
    assert resilience_score([]) is None


# -- distributions --------------------------------------------------------------------------------
def test_the_distribution_comparison_is_scipy_on_the_sketch_sample() -> None:
    rng = np.random.default_rng(3)
    observed = rng.lognormal(np.log(0.035), 0.3, 5000)
    predicted = rng.lognormal(np.log(0.030), 0.3, 20000)
    sketch = np.quantile(predicted, SKETCH_LEVELS)
    d = compare_distributions(observed, sketch)
    assert d is not None
    sample = sample_of_sketch(sketch)
    assert d.ks_statistic == pytest.approx(stats.ks_2samp(observed, sample).statistic)
    assert d.wasserstein == pytest.approx(stats.wasserstein_distance(observed, sample))
    assert d.wasserstein == pytest.approx(0.005 * math.exp(0.045), rel=0.1)  # the means differ by ~5 ms
    assert d.prob_observed_slower > 0.6  # observed shifted up
    same = compare_distributions(rng.lognormal(np.log(0.03), 0.3, 5000), sketch)
    assert same is not None and abs(same.prob_observed_slower - 0.5) < 0.03 and same.ks_statistic < 0.05
    assert compare_distributions(observed[:1], sketch) is None
    assert compare_distributions(observed, np.full(len(SKETCH_LEVELS), math.nan)) is None


# -- coverage -------------------------------------------------------------------------------------
def test_coverage_counts_the_runs_inside_their_interval() -> None:
    p = Estimate(0.05, 0.04, 0.06, 10)
    cards = [
        ScoreCard(f"run-{i}", "x", (scored("latency_p95", value, p),), ())
        for i, value in enumerate((0.045, 0.05, 0.07, 0.055))
    ]
    (row,) = coverage(cards)
    assert (row.metric, row.runs, row.covered, row.coverage) == ("latency_p95", 4, 3, 0.75)
    assert row.mean_width == pytest.approx(0.02)
    assert row.mean_abs_error == pytest.approx((0.005 + 0 + 0.02 + 0.005) / 4)
    assert row.mean_interval_score == pytest.approx((0.02 * 4 + 20 * 0.01) / 4)


def test_a_coverage_carries_its_wilson_interval_by_hand() -> None:
    p = Estimate(0.05, 0.04, 0.06, 10)
    cards = [
        ScoreCard(f"run-{i}", "x", (scored("latency_p95", 0.05 if i < 9 else 0.09, p),), ())
        for i in range(10)
    ]
    (row,) = coverage(cards)
    z, n, share = stats.norm.ppf(0.95), 10, 0.9
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert row.coverage_interval == pytest.approx((centre - half, centre + half))
    assert row.to_dict()["coverageInterval"] == pytest.approx([centre - half, centre + half])


def _run(name: str, inside: int, outside: int) -> ScoreCard:
    p = Estimate(0.05, 0.04, 0.06, 10)
    values = [0.05] * inside + [0.09] * outside
    return ScoreCard(name, "x", tuple(scored("latency_p95", v, p) for v in values), ())


def test_pooled_coverage_resamples_whole_runs() -> None:
    cards = [_run("a", 10, 0), _run("b", 10, 0), _run("c", 2, 8), _run("d", 10, 0)]
    pooled = pooled_coverage(cards)
    assert (pooled.runs, pooled.covered, pooled.values, pooled.coverage) == (4, 32, 40, 0.8)
    assert pooled.low is not None and pooled.high is not None
    # the interval spans what resampling four runs can give: from one run in four bad to none
    assert 0.35 <= pooled.low < 0.8 and pooled.high == pytest.approx(1.0)
    # the same 40 values counted as independent would claim far more certainty (Wilson)
    independent = stats.binomtest(32, 40).proportion_ci(confidence_level=0.9, method="wilson")
    assert pooled.low < independent.low
    same = pooled_coverage([_run("a", 9, 1), _run("b", 9, 1)])
    assert (same.coverage, same.low, same.high) == (0.9, None, None)  # no spread between runs
    assert pooled_coverage([_run("a", 9, 1)]).low is None  # one run: nothing to resample
    assert pooled_coverage([]).values == 0


# -- alerts ---------------------------------------------------------------------------------------
def test_observed_firing_counts_from_the_fault_start_and_merges_series() -> None:
    intervals = [
        AlertInterval("A", 90.0, 130.0, {"pod": "p-0"}),  # firing before the fault began
        AlertInterval("A", 120.0, 150.0, {"pod": "p-1"}),
        AlertInterval("B", 160.0, None, {}),  # still firing at the end
        AlertInterval("C", 50.0, 99.0, {}),  # over before the fault
    ]
    assert observed_firing(intervals, "A", since=100.0, end=200.0) == (0.0, 50.0)
    assert observed_firing(intervals, "B", since=100.0, end=200.0) == (60.0, 40.0)
    assert observed_firing(intervals, "C", since=100.0, end=200.0) == (None, 0.0)


def test_alerts_are_graded_and_brier_scored() -> None:
    intervals = [AlertInterval("Fired", 105.0, 160.0, {}), AlertInterval("Late", 190.0, None, {})]
    predicted = [
        AlertSummary("Fired", 1.0, Estimate(5.0, 0.0, 10.0, 10), None),
        AlertSummary("Late", 0.9, Estimate(5.0, 0.0, 10.0, 10), None),  # fired 90 s, not ~5 s, in
        AlertSummary("Quiet", 0.0, None, None),
        AlertSummary("Missed", 0.95, Estimate(5.0, 0.0, 10.0, 10), None),
        AlertSummary("Unsure", 0.6, Estimate(5.0, 0.0, 10.0, 10), None),
        AlertSummary("NotPredicted", None, None, None, "no series for it"),
    ]
    scores = {a.name: a for a in score_alerts(predicted, intervals, 100.0, 200.0, {"Missed"})}
    assert set(scores) == {"Fired", "Late", "Quiet", "Missed", "Unsure"}
    assert (scores["Fired"].grade, scores["Fired"].observed_first, scores["Fired"].brier) == (
        Grade.PASS,
        5.0,
        0.0,
    )
    assert scores["Late"].grade == Grade.FAIL and scores["Late"].observed_first == 90.0
    assert scores["Quiet"].grade == Grade.PASS and scores["Quiet"].brier == 0.0
    assert scores["Missed"].grade == Grade.FAIL and scores["Missed"].brier == pytest.approx(0.9025)
    assert scores["Unsure"].grade == Grade.MARGINAL
    # weights 1, 1, 1, 3 (Missed is critical), 1; credit 1, 0, 1, 0, 0.5
    assert confidence_score(list(scores.values())) == pytest.approx(100 * 2.5 / 7)
    assert score_alerts(predicted, intervals, None, 200.0, set()) == []  # no fault: nothing to score
