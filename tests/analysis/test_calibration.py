"""Calibration against the simulator's own ground truth: a baseline simulated with known service
time, store latency and request overhead, recorded as a run would record it, then calibrated.

Tolerances come from the spread of the point estimates over six synthetic 2-minute baselines of
this truth (seeds 0-5, measured when the fit was written): sd 0.18 ms of the service-time mean
(0.5 %), 0.011 ms of the store latency mean (0.4 %), 0.11 ms of the overhead mean (3 %). Each
tolerance is about three of those, so a correct fit passes and a biased one (say an overhead that
also absorbed the store latency, 2.5 ms) cannot.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.baseline import Baseline, CalibrationInputError, histogram_quantile
from analysis.calibration import (
    CalibrationResult,
    calibrate,
    calibrated_document,
    fit_fault_timing,
    fit_pacing_lateness,
    fit_start_delay,
    hit_rate,
    report,
)
from analysis.readiness_fit import fit_startup
from analysis.record import ChaosWindow
from chaos.record import Event, EventKind
from chaos.spec import load_experiment
from chaos.system import Distribution, load_system_profile
from load import Record
from tests.analysis.calibration_fakes import ORIGIN, ROOT, seed_experiment, synthetic_run, truth

SERVICE, STORE = 0.033, 0.0025
OVERHEAD = Distribution("lognormal", 0.004, 0.8)


def _calibrated(baseline: float, **options: int) -> CalibrationResult:
    experiment = seed_experiment(baseline)
    actual = truth(experiment.system, SERVICE, STORE, OVERHEAD)
    return calibrate(synthetic_run(actual, experiment), **{"resamples": 8, "replications": 1, **options})


@pytest.fixture(scope="module")
def two_minutes() -> CalibrationResult:
    return _calibrated(120.0)


def _spread(result: CalibrationResult) -> dict[str, float]:
    """Width of the 5th-95th percentile band of each fitted mean over the parameter sets."""
    sets = result.calibration.parameter_sets
    values = {
        "service": [s.service_time.mean for s in sets],
        "store": [s.store_latency.mean for s in sets],
        "overhead": [s.request_overhead.mean for s in sets if s.request_overhead is not None],
    }
    return {k: float(np.subtract(*np.percentile(v, [95, 5]))) for k, v in values.items()}


def test_calibration_recovers_the_simulators_own_parameters(two_minutes: CalibrationResult) -> None:
    p = two_minutes.profile
    assert p.service.service_time.mean == pytest.approx(SERVICE, rel=0.016)
    assert p.service.service_time.cv == 0.3  # one recorded quantile: the profile's cv is kept
    assert p.feature_store.latency.mean == pytest.approx(STORE, rel=0.02)
    assert p.request_overhead is not None
    assert p.request_overhead.mean == pytest.approx(OVERHEAD.mean, rel=0.08)
    assert p.request_overhead.cv == pytest.approx(OVERHEAD.cv, rel=0.2)
    fit = two_minutes.calibration.fit
    assert fit is not None
    # the profile as it was misses the overhead; calibrated, the simulated baseline matches
    assert fit.observed.p95 - fit.before.p95 > 0.006
    assert fit.after.p95 == pytest.approx(fit.observed.p95, abs=0.001)
    assert fit.after.p50 == pytest.approx(fit.observed.p50, abs=0.0005)
    assert fit.wasserstein_after < fit.wasserstein_before / 10
    assert next(iter(two_minutes.families)) == fit.overhead_family
    assert fit.families[fit.overhead_family] <= min(fit.families.values())


def test_every_parameter_set_is_a_refit_near_the_whole_fit(two_minutes: CalibrationResult) -> None:
    sets = two_minutes.calibration.parameter_sets
    assert len(sets) == 8
    whole = two_minutes.profile
    assert whole.request_overhead is not None
    for s in sets:
        assert s.request_overhead is not None and s.request_overhead.kind == whole.request_overhead.kind
        assert s.service_time.mean == pytest.approx(whole.service.service_time.mean, rel=0.05)
        assert s.request_overhead.mean == pytest.approx(whole.request_overhead.mean, rel=0.25)
    assert len({s.request_overhead for s in sets}) == len(sets)  # resamples differ


def test_bootstrap_spread_narrows_with_more_data(two_minutes: CalibrationResult) -> None:
    short, long = _spread(_calibrated(40.0)), _spread(two_minutes)
    # three times the data; the 40 s baseline also has only 10 s of 30 s-window quantiles
    for name in ("service", "store", "overhead"):
        assert long[name] < short[name] / 2, (name, short[name], long[name])


def test_a_calibrated_profile_round_trips_through_the_loader(
    two_minutes: CalibrationResult, tmp_path: Path
) -> None:
    original = yaml.safe_load((ROOT / "experiments" / "system.yaml").read_text())
    original["spec"].pop("variation")  # as seed_experiment's profile: a synthetic run has none
    path = tmp_path / "calibrated.yaml"
    path.write_text(yaml.safe_dump(calibrated_document(original, two_minutes), sort_keys=False))
    loaded = load_system_profile(path)
    assert replace(loaded, source="") == replace(two_minutes.profile, source="")
    assert loaded.parameter_sets == two_minutes.calibration.parameter_sets
    # everything not calibrated is the original's, comments aside
    fitted = two_minutes.profile.load
    assert loaded.breaker == two_minutes.original.breaker
    assert loaded.load == replace(
        two_minutes.original.load, pacing_lateness=fitted.pacing_lateness, start_delay=fitted.start_delay
    )


def test_the_report_has_each_fitted_value_with_its_interval(two_minutes: CalibrationResult) -> None:
    text = "\n".join(report(two_minutes))
    for words in ("service time mean", "feature-store latency mean", "request overhead", "Wasserstein"):
        assert words in text
    assert "note: the record has fewer than 30 fallback lookups: cache.hitRate kept" in text


def test_without_prometheus_series_only_the_overhead_is_fitted() -> None:
    experiment = seed_experiment(60.0)
    own = experiment.system  # the profile's own service and store, an overhead outside the pods
    actual = truth(own, own.service.service_time.mean, own.feature_store.latency.mean, OVERHEAD)
    data = synthetic_run(actual, experiment, with_series=False)
    result = calibrate(data, resamples=2, replications=1)
    assert result.profile.service.service_time == experiment.system.service.service_time
    assert result.profile.feature_store.latency == experiment.system.feature_store.latency
    assert result.profile.request_overhead is not None
    assert result.profile.request_overhead.mean == pytest.approx(OVERHEAD.mean, rel=0.1)
    assert any("serviceTime kept" in n for n in result.notes)


def test_a_run_without_a_baseline_cannot_be_calibrated() -> None:
    data = synthetic_run(truth(seed_experiment(60.0).system, SERVICE, STORE, None), seed_experiment(60.0))
    with pytest.raises(CalibrationInputError, match="successful requests"):
        Baseline.of(replace(data, records=data.records[:50]))
    with pytest.raises(CalibrationInputError, match="no origin"):
        Baseline.of(replace(data, info={}))


def test_histogram_quantile_interpolates_inside_the_bucket_as_prometheus_does() -> None:
    bounds = (0.1, 0.2, 0.5)
    counts = [10.0, 30.0, 40.0, 40.0]  # cumulative at 0.1, 0.2, 0.5 and +Inf
    assert histogram_quantile(0.5, bounds, counts) == pytest.approx(0.15)  # rank 20: halfway in (0.1, 0.2]
    assert histogram_quantile(0.99, bounds, counts) == pytest.approx(0.2 + 0.3 * 9.6 / 10)
    assert histogram_quantile(0.1, bounds, counts) == pytest.approx(0.04)  # first bucket from 0
    assert histogram_quantile(0.99, bounds, [10.0, 30.0, 40.0, 50.0]) == 0.5  # in +Inf: highest bound


def test_a_block_resample_draws_whole_seconds_with_their_requests() -> None:
    experiment = seed_experiment(60.0)
    base = Baseline.of(synthetic_run(truth(experiment.system, SERVICE, STORE, OVERHEAD), experiment))
    resample = base.resample(np.random.default_rng(3), 10.0)
    per_second = np.bincount(base.seconds, minlength=60)
    picked = np.unique(resample.seconds)
    assert abs(resample.requests - len(base.latency)) < 3 * per_second.max()
    for second in picked[:5]:  # a second comes with all its requests, possibly more than once
        assert (resample.seconds == second).sum() % per_second[second] == 0
    assert set(resample.series[0].seconds) <= set(picked)


def _record(feature_source: str, t: float = ORIGIN + 100.0) -> Record:
    return Record(t, 0.03, "degraded", 200, "", True, False, feature_source, None, "chaos")


def test_the_hit_rate_comes_from_the_runs_fallback_lookups() -> None:
    data = synthetic_run(truth(seed_experiment(60.0).system, SERVICE, STORE, None), seed_experiment(60.0))
    few = replace(data, records=[*data.records, *(_record("cache") for _ in range(10))])
    assert hit_rate(few) is None  # fewer than 30 lookups: not enough to say
    lookups = [_record("cache") for _ in range(90)] + [_record("defaults") for _ in range(10)]
    found = hit_rate(replace(data, records=[*data.records, *lookups]))
    assert found is not None
    rate, low, high, count = found
    assert (rate, count) == (0.9, 100) and low < 0.9 < high


def test_start_up_time_from_pods_coming_back_after_a_pod_failure() -> None:
    experiment = seed_experiment(60.0)
    profile = experiment.system  # readiness every 2 s, one success; the runner samples every 1 s
    data = synthetic_run(truth(profile, SERVICE, STORE, None), experiment)
    end = ORIGIN + 200.0
    chaos = (ChaosWindow("ns/fail", "PodChaos", "pod-failure", ("pod-1", "pod-2"), ORIGIN + 60.0, end),)
    events = [
        Event(end + 5.5, EventKind.POD_READY, {"pod": "pod-1"}),
        Event(end + 6.5, EventKind.POD_READY, {"pod": "pod-2"}),
        Event(end + 1.0, EventKind.POD_READY, {"pod": "pod-3"}),  # not a target
    ]
    fit = fit_startup(replace(data, chaos=chaos, events=events), profile, np.random.default_rng(0))
    assert fit is not None and fit.pods == 2
    # back 5.5 and 6.5 s after the end, less the expected wait (1 s probe phase + 0.5 s sampling)
    assert fit.value == pytest.approx(4.5)
    assert fit.low <= fit.value <= fit.high
    assert fit_startup(data, profile, np.random.default_rng(0)) is None


def test_a_new_pods_probe_period_bounds_the_start_up_time() -> None:
    experiment = seed_experiment(60.0)
    profile = experiment.system  # scheduleDelay 1 s, start-up 4 s, readiness every 2 s
    data = synthetic_run(truth(profile, SERVICE, STORE, None), experiment)
    kill = ORIGIN + 60.0
    chaos = (ChaosWindow("ns/kill", "PodChaos", "pod-kill", ("pod-1",), kill, None),)
    # the new pod's container starts at kill + 1; its probes at + 0, 2, 4 fail, the one at + 6 passes
    events = [
        Event(kill + 0.4, EventKind.POD_CREATED, {"pod": "pod-9", "ready": False}),
        Event(kill + 7.6, EventKind.POD_READY, {"pod": "pod-9"}),
    ]
    killed = replace(data, chaos=chaos, events=events)
    fit = fit_startup(killed, profile, np.random.default_rng(0))
    assert fit is not None and fit.pods == 1
    assert (fit.value, fit.low) == (4.0, 4.0) and fit.high == pytest.approx(6.0, abs=0.01)
    # a profile that says 2 s is held inside what the record allows
    short = replace(profile, lifecycle=replace(profile.lifecycle, startup_time=2.0))
    held = fit_startup(killed, short, np.random.default_rng(0))
    assert held is not None and held.value == 4.0
    # a pod restarted in place gives an estimate of its own, still held inside [4, 6)
    failed = (ChaosWindow("ns/fail", "PodChaos", "pod-failure", ("pod-2",), kill, kill + 20.0), *chaos)
    back = Event(kill + 20.0 + 6.5, EventKind.POD_READY, {"pod": "pod-2"})  # 6.5 - 1 - 0.5 = 5.0
    both = fit_startup(
        replace(killed, chaos=failed, events=[*events, back]), profile, np.random.default_rng(0)
    )
    assert both is not None and both.value == pytest.approx(5.0) and both.pods == 2


def test_the_chaos_toolings_lag_is_read_off_the_injection_and_the_end() -> None:
    experiment = seed_experiment(60.0)  # chaos from 60 s to 360 s; the delay's 5 m last all of it
    data = synthetic_run(experiment.system, experiment)
    assert fit_fault_timing(data) is None  # nothing injected
    delayed = ChaosWindow("ns/d", "NetworkChaos", "delay", (), ORIGIN + 60.012, ORIGIN + 360.004)
    timing = fit_fault_timing(replace(data, chaos=(delayed,)))
    assert timing is not None and (timing.apply_delay, timing.remove_delay) == pytest.approx((0.012, 0.004))
    assert timing.remove_delays == experiment.system.fault_timing.remove_delays  # kept: not a pod-failure
    # a pod-failure's end goes to its own entry, the network faults' removeDelay kept
    pod_failure = load_experiment(ROOT / "experiments" / "pod-failure.experiment.yaml")
    start, end = pod_failure.phases.bounds()["chaos"]
    failed = ChaosWindow("ns/f", "PodChaos", "pod-failure", (), ORIGIN + start + 0.012, ORIGIN + end + 0.03)
    pod = fit_fault_timing(replace(data, chaos=(failed,), experiment=pod_failure))
    assert pod is not None and pod.remove_delay == experiment.system.fault_timing.remove_delay
    assert pod.remove_delay_of("pod-failure") == pytest.approx(0.03)
    # stopped early (an abort): when the runner deleted it tells nothing of the lag at the phase end
    aborted = replace(delayed, ended_at=ORIGIN + 100.0)
    timing = fit_fault_timing(replace(data, chaos=(aborted,)))
    assert timing is not None and timing.remove_delay == experiment.system.fault_timing.remove_delay


def test_the_loads_start_delay_is_read_off_the_first_request() -> None:
    experiment = seed_experiment(20.0)
    for delay in (0.0, 0.012, 0.3):
        late = replace(experiment, load=replace(experiment.load, start_delay=delay))
        data = replace(synthetic_run(experiment.system, late), experiment=experiment)
        # the first of 40 users on their grid comes within the largest gap between two users' grid
        # points (under 2 / 200 s) after the start; the fit takes off the mean wait, 0.5 / 200 s
        fitted = fit_start_delay(data)
        assert fitted is not None and fitted == pytest.approx(delay, abs=1.5 / 200)
    assert fit_start_delay(replace(data, records=[])) is None


def test_the_pacing_lateness_is_read_off_the_baseline_rate() -> None:
    experiment = seed_experiment(60.0)
    late = replace(experiment, load=replace(experiment.load, pacing_lateness=0.0016))
    data = replace(synthetic_run(experiment.system, late), experiment=experiment)
    # 40 users paced at 0.2 s, each start 1.6 ms late: 198.4 requests per second, not 200
    assert fit_pacing_lateness(data) == pytest.approx(0.0016, abs=0.0001)
    assert (
        fit_pacing_lateness(replace(synthetic_run(experiment.system, experiment), experiment=experiment))
        == 0.0
    )
