"""A replication rendered as the series Prometheus would have scraped (promtool input_series)."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaos.errors import SimulationError
from chaos.metrics import REQUEST_DURATION_BUCKETS
from service.metrics import ServiceMetrics
from sim.alert_series import RENDERED, STALE, InputSeries, notation, render, scrape_times
from sim.exported import ExportedCounts
from sim.result import Replication
from sim.timeline import Event
from tests.sim.builders import profile

BUCKETS = len(REQUEST_DURATION_BUCKETS) + 1


def replication(events: tuple[Event, ...], exported: ExportedCounts | None) -> Replication:
    return Replication((), {}, None, 0, None, events, exported)


def counts(
    seconds: int,
    success: list[int] | None = None,
    error: list[int] | None = None,
    fallback: list[int] | None = None,
    duration: dict[tuple[int, int], int] | None = None,
) -> ExportedCounts:
    """Per-second counts (zeros unless given); `duration`: (second, bucket index) -> answers."""
    zeros = [0] * seconds
    buckets = np.zeros((seconds, BUCKETS), dtype=np.int32)
    for (second, bucket), n in (duration or {}).items():
        buckets[second, bucket] = n
    return ExportedCounts(
        success=np.array(success or zeros, dtype=np.int32),
        error=np.array(error or zeros, dtype=np.int32),
        fallback=np.array(fallback or zeros, dtype=np.int32),
        duration=buckets,
    )


def test_values_in_promtools_expanding_notation() -> None:
    assert notation([0, 1, 2, 3, 5, 5, 5, None, None, STALE, 7]) == "0+1x3 5x2 _x2 stale 7"
    assert notation([3, 2, 1, 9, None, 4, 4]) == "3-1x2 9 _ 4 4"
    assert notation([]) == ""


def test_a_tiny_replication_renders_to_these_input_series() -> None:
    events = (
        Event(0.5, "breaker-open", 0),
        Event(1.5, "pod-down", 1, "pod-failure"),
        Event(1.5, "pod-not-ready", 1, "pod-failure"),
        Event(2.5, "breaker-half-open", 0),
        Event(3.0, "pod-up", 1, "pod-failure recovered"),
        Event(3.5, "pod-ready", 1, "1 passing checks"),
    )
    exported = counts(
        4,
        success=[2, 3, 0, 1],
        error=[0, 1, 1, 0],
        fallback=[0, 1, 0, 0],
        duration={(0, 3): 2, (1, 3): 3, (1, 20): 1, (2, 20): 1, (3, 3): 1},
    )
    series = render(replication(events, exported), profile(replicas=2), 4.0)
    buckets = [s for s in series if s.series.startswith("mlservice_request_duration_seconds_bucket")]
    assert len(buckets) == BUCKETS
    by_le = {s.series: s.values for s in buckets}
    assert by_le['mlservice_request_duration_seconds_bucket{le="0.005"}'] == "0x4"
    assert by_le['mlservice_request_duration_seconds_bucket{le="0.05"}'] == "0 2 5 5 6"
    assert by_le['mlservice_request_duration_seconds_bucket{le="1.0"}'] == "0 2 6+1x2"
    assert by_le['mlservice_request_duration_seconds_bucket{le="+Inf"}'] == "0 2 6+1x2"
    assert [s for s in series if s not in buckets] == [
        InputSeries('mlservice_requests_total{outcome="success"}', "0 2 5 5 6"),
        InputSeries('mlservice_requests_total{outcome="error"}', "0 0+1x2 2"),
        InputSeries("mlservice_fallbacks_total", "0 0 1x2"),
        InputSeries('up{job="ml-prediction-service",pod="pod-0"}', "1x4"),
        InputSeries('mlservice_circuit_breaker_state{state="open",pod="pod-0"}', "0 1 1 0 0"),
        InputSeries('up{job="ml-prediction-service",pod="pod-1"}', "1 1 0 1 1"),
        # pod-1's container did not serve at 2 s: the scrape failed, its series went stale
        InputSeries('mlservice_circuit_breaker_state{state="open",pod="pod-1"}', "0 0 stale 0 0"),
        InputSeries(
            'kube_deployment_spec_replicas{namespace="ml-services",deployment="ml-prediction-service"}', "2x4"
        ),
        InputSeries(
            'kube_deployment_status_replicas_available{namespace="ml-services",deployment="ml-prediction-service"}',
            "2 2 1 1 2",
        ),
    ]
    # rendered from the scrape at 2 s on: the same samples from there, promtool's t = 0 being 2 s
    later = {
        s.series: s.values for s in render(replication(events, exported), profile(replicas=2), 4.0, offset=2)
    }
    assert later['mlservice_requests_total{outcome="success"}'] == "5 5 6"
    assert later['up{job="ml-prediction-service",pod="pod-1"}'] == "0 1 1"


def test_a_killed_pod_ends_its_series_and_its_replacement_starts_new_ones() -> None:
    events = (
        Event(0.2, "breaker-open", 0),
        Event(1.0, "pod-down", 0, "pod-kill"),
        Event(1.0, "pod-not-ready", 0, "pod-kill"),
        Event(2.5, "pod-up", 0, "pod-kill"),
        Event(2.5, "pod-ready", 0, "1 passing checks"),
    )
    series = render(replication(events, counts(4)), profile(replicas=1), 4.0)
    pods = {s.series: s.values for s in series if "pod=" in s.series}
    assert pods == {
        'up{job="ml-prediction-service",pod="pod-0"}': "1 stale",
        'mlservice_circuit_breaker_state{state="open",pod="pod-0"}': "0 stale",
        # created a scheduleDelay (1 s) after the kill, serving from 2.5 s, its breaker closed
        'up{job="ml-prediction-service",pod="pod-0-1"}': "_x2 0 1 1",
        'mlservice_circuit_breaker_state{state="open",pod="pod-0-1"}': "_x3 0 0",
    }


def test_scrapes_are_whole_seconds_apart_to_the_horizon() -> None:
    assert scrape_times(10.5, 5).tolist() == [0, 5, 10]
    assert scrape_times(10.5, 5, offset=2).tolist() == [2, 7]
    with pytest.raises(SimulationError, match="whole number of seconds"):
        scrape_times(10.0, 0)
    with pytest.raises(SimulationError, match="no exported counts"):
        render(replication((), None), profile(), 4.0)


def test_the_rendered_service_metrics_are_what_a_pod_exports() -> None:
    metrics = ServiceMetrics(process=False)
    exported = {
        s.name for f in text_string_to_metric_families(metrics.exposition().decode()) for s in f.samples
    }
    service = {name for name in RENDERED if name.startswith("mlservice_")}
    assert service <= exported, service - exported


def test_the_class_mix_of_the_primary_models_is_rendered_in_expectation() -> None:
    from chaos.system import ClassOne
    from sim.alert_series import prediction_series

    exported = counts(3)
    exported = ExportedCounts(
        exported.success,
        exported.error,
        exported.fallback,
        exported.duration,
        primary=np.array([10, 10, 0], dtype=np.int32),
        flipped=np.array([0, 10, 0], dtype=np.int32),
        rolled=np.array([0, 0, 20], dtype=np.int32),
    )
    series = prediction_series(exported, scrape_times(3, 1), ClassOne(0.6, 0.7, {"bad": 0.25}), "bad")
    got = {s.series: s.values for s in series}
    # class 1: 10 x 0.7, then 10 x 0.7 + 10 flipped x 0.3; the bad version: 20 x 0.25
    assert got['mlservice_predictions_total{class="1",model_version="primary"}'] == "0 7 17 17"
    assert got['mlservice_predictions_total{class="0",model_version="primary"}'] == "0 3 13 13"
    assert got['mlservice_predictions_total{class="1",model_version="bad"}'] == "0x2 5"
    assert got['mlservice_predictions_total{class="0",model_version="bad"}'] == "0x2 15"
    assert got["mlservice_model_reference_positive_ratio"] == "0.6x3"


def test_with_the_seed_profiles_class_shares_every_seed_rule_is_rendered() -> None:
    from pathlib import Path

    from chaos.system import load_system_profile
    from sim.alert_series import rendered
    from sim.alerts import alert_rules
    from sim.promtool import read_rule_groups

    root = Path(__file__).resolve().parents[2]
    seed = load_system_profile(root / "experiments" / "system.yaml")
    rules = alert_rules(read_rule_groups(root / "k8s" / "alert-rules.yaml"))
    assert all(not r.missing_from(rendered(seed)) for r in rules)
    assert rendered(profile()) == RENDERED  # a profile without class shares: the shift rule is not
