"""A baseline made by the simulator itself, as a run record would hold it: the ground truth for
calibration tests. The pods' latency and the client's come from the same seeded replication with and
without the request overhead (its draws have their own generator, so the pods do exactly the same);
the Prometheus series are histogram_quantile over 30 s windows, with the service's buckets, of the
pods' request durations (by completion time) and of feature-store call times drawn from the truth."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analysis.baseline import sample_histogram_quantile
from analysis.overhead_fit import ppf
from analysis.record import RunData
from chaos.record import LOAD_DIR, PROMETHEUS_DIR, RUN
from chaos.spec import Experiment, load_experiment
from chaos.system import Distribution, SystemProfile, Variation
from load import Record
from load._records import RecordWriter
from service.metrics import REQUEST_BUCKETS, STORE_BUCKETS
from sim.replication import simulate
from sim.scenario import Phase, Scenario

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = 1_800_000_000.0
WINDOW = 30
REQUEST_P95 = "histogram_quantile(0.95, sum by (le) (rate(mlservice_request_duration_seconds_bucket[30s])))"
STORE_P95 = (
    "histogram_quantile(0.95, sum by (le) (rate(mlservice_feature_store_duration_seconds_bucket[30s])))"
)


def seed_experiment(baseline: float, folder: Path | None = None) -> Experiment:
    """The seed latency experiment (profile experiments/system.yaml) with a shorter baseline and no
    run-to-run variation (a synthetic run is one replication: it has none); with `folder`, loaded
    from a copy of experiments/ there whose files say so."""
    if folder is None:
        experiment = load_experiment(ROOT / "experiments" / "network-latency.experiment.yaml")
        system = replace(experiment.system, variation=Variation())
        return replace(experiment, phases=replace(experiment.phases, baseline=baseline), system=system)
    shutil.copytree(ROOT / "experiments", folder)
    spec = folder / "network-latency.experiment.yaml"
    spec.write_text(spec.read_text().replace("baseline: 2m", f"baseline: {baseline:g}s"))
    profile = folder / "system.yaml"
    document = yaml.safe_load(profile.read_text())
    document["spec"].pop("variation", None)
    profile.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_experiment(spec)


def truth(prior: SystemProfile, service: float, store: float, overhead: Distribution | None) -> SystemProfile:
    """`prior` with the service and store means set and `overhead` outside the pods."""
    return replace(
        prior,
        service=replace(prior.service, service_time=replace(prior.service.service_time, mean=service)),
        feature_store=replace(prior.feature_store, latency=replace(prior.feature_store.latency, mean=store)),
        request_overhead=overhead,
    )


def _windowed(times: np.ndarray, values: np.ndarray, bounds: tuple[float, ...], seconds: int) -> list[Any]:
    points = []
    for t in range(WINDOW, seconds + 1):
        inside = values[(times > t - WINDOW) & (times <= t)]
        if len(inside):
            points.append([ORIGIN + t, str(sample_histogram_quantile(0.95, bounds, inside))])
    return points


def series(name: str, query: str, points: list[Any]) -> dict[str, Any]:
    return {"name": name, "query": query, "step": 1.0, "result": [{"metric": {}, "values": points}]}


def synthetic_run(
    actual: SystemProfile, experiment: Experiment, seed: int = 0, with_series: bool = True
) -> RunData:
    """What a run of `experiment` on a system that is `actual` would record of its baseline."""
    seconds = int(experiment.phases.baseline)
    scenario = Scenario(phases=(Phase("baseline", 0.0, float(seconds)),), load=experiment.load)
    client = simulate(actual, scenario, np.random.default_rng(seed))
    pods = simulate(replace(actual, request_overhead=None), scenario, np.random.default_rng(seed))
    assert np.array_equal(client.send, pods.send)
    records = [
        Record(ORIGIN + float(t), float(lat), "ok", 200, "", False, False, "store", None, "baseline")
        for t, lat in zip(client.send, client.latency, strict=True)
    ]
    found: dict[str, Any] = {}
    if with_series:
        rng = np.random.default_rng(seed + 1000)
        per_second = int(experiment.load.rps)
        calls = np.repeat(np.arange(seconds, dtype=float), per_second) + rng.random(seconds * per_second)
        call_times = ppf(actual.feature_store.latency, rng.random(len(calls)))
        request_points = _windowed(pods.end, pods.latency, REQUEST_BUCKETS, seconds)
        store_points = _windowed(calls, call_times, STORE_BUCKETS, seconds)
        found = {
            "latency_p95": series("latency_p95", REQUEST_P95, request_points),
            "feature_store_latency_p95": series("feature_store_latency_p95", STORE_P95, store_points),
        }
    info = {"origin": ORIGIN, "end": ORIGIN + seconds, "options": {"seed": 0, "tick": 1.0}}
    return RunData(
        experiment=experiment,
        info=info,
        records=records,
        samples=[],
        events=[],
        signals=None,
        forecast=None,
        series=found,
    )


def write_record(data: RunData, folder: Path) -> Path:
    """`data` as a run directory that RunData.load reads back (spec and profile by their paths)."""
    info = {
        **data.info,
        "experiment": {"name": data.experiment.name, "source": str(data.experiment.source)},
        "systemFile": "",
        "specFile": "",
    }
    folder.mkdir(parents=True)
    (folder / RUN).write_text(json.dumps(info))
    writer = RecordWriter(folder / LOAD_DIR / "requests-test-1.csv")
    for record in data.records:
        writer.write(record)
    writer.flush()
    (folder / PROMETHEUS_DIR).mkdir()
    for name, raw in data.series.items():
        (folder / PROMETHEUS_DIR / f"{name}.json").write_text(json.dumps(raw))
    return folder
