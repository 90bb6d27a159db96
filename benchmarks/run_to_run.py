"""Run-to-run variation: the same experiment run several times on fresh testbeds, and how far apart
the runs land compared with the prediction's interval.

A 90 % prediction interval is a claim about the next run, so it has to hold what differs between
runs, not only the simulator's own randomness. This benchmark runs one case of
benchmarks/prediction_accuracy.py (default: the seed latency experiment, short phases) N times,
each on a testbed of its own, and prints per scored metric: the observed mean, the spread between
runs (standard deviation), the predicted 90 % interval and how many runs fell inside it.

It then estimates the profile's `variation.speed` (sigma of the log of a per-run speed factor on
service time and request overhead) from the baseline median latency, the steadiest figure a run
has:

    sigma_between^2 = var_runs(log p50) - mean(sigma_within^2)      (random-effects split)
    speed = sigma_between / elasticity

where sigma_within is each run's own sampling error of log p50 (from its 90 % bootstrap interval)
and the elasticity d log p50 / d log speed comes from the simulator (the baseline predicted with
the speed factor at exp(-0.1) and exp(+0.1)), since queueing makes p50 move more than the speed.

    .venv/bin/python benchmarks/run_to_run.py                       # 5 runs of seed-network-latency
    .venv/bin/python benchmarks/run_to_run.py --runs 4 --case seed-pod-failure
    .venv/bin/python benchmarks/run_to_run.py --runs 8 --keep runs/   # keep each run's folder

Prints figures; asserts nothing. Every testbed it starts it stops, whatever happens.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prediction_accuracy import CASES, REPLICATIONS, SEED, run_case, write_case

from analysis.score import MetricScore
from chaos.spec import load_experiment
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

STEP = 0.1
"""Half-width, in log units, of the speed change the elasticity is measured over."""
Z90 = float(stats.norm.ppf(0.95))


def elasticity(spec: Path) -> float:
    """d log(baseline p50) / d log(speed) of the case's own profile and scenario, by simulation."""
    experiment = load_experiment(spec)
    scenario = scenario_from_experiment(experiment)
    p50 = []
    for sign in (-1, 1):
        profile = experiment.system.with_speed(math.exp(sign * STEP))
        prediction = predict(profile, scenario, replications=REPLICATIONS, seed=SEED, jobs=2)
        p50.append(prediction.metric("latency_p50", "baseline").point)
    low, high = p50
    assert low is not None and high is not None
    return (math.log(high) - math.log(low)) / (2 * STEP)


def speed_sigma(runs: list[MetricScore], slope: float) -> tuple[float, float, float]:
    """(sigma between runs of log p50, mean sigma within a run, implied variation.speed)."""
    logs = np.log([m.observed for m in runs])
    within = [
        (math.log(m.observed_high) - math.log(m.observed_low)) / (2 * Z90)
        for m in runs
        if m.observed_low and m.observed_high
    ]
    var_within = float(np.mean(np.square(within))) if within else 0.0
    var_between = max(0.0, float(np.var(logs, ddof=1)) - var_within)
    return math.sqrt(var_between), math.sqrt(var_within), math.sqrt(var_between) / slope


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="seed-network-latency", help="a prediction_accuracy case")
    parser.add_argument("--runs", type=int, default=5, help="how many runs (>= 3)")
    parser.add_argument(
        "--keep", type=Path, help="keep each run's folder (record, prediction, score) under this one"
    )
    args = parser.parse_args()
    case = next((c for c in CASES if c.name == args.case), None)
    if case is None:
        parser.error(f"--case: unknown {args.case!r}; one of {', '.join(c.name for c in CASES)}")
    if args.runs < 3:
        parser.error(f"--runs: {args.runs} must be >= 3")
    by_metric: dict[tuple[str, str | None], list[MetricScore]] = defaultdict(list)
    for i in range(args.runs):
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"chaoslab-r2r-{case.name}-", dir=args.keep))
        try:
            card, _, seconds = run_case(case, folder, calibrate=False)
            if i == 0:
                slope = elasticity(write_case(case, folder))
        finally:
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
        for m in card.metrics:
            by_metric[(m.metric, m.phase)].append(m)
        print(f"run {i + 1}/{args.runs}: {len(card.metrics)} metrics scored ({seconds:.0f} s)", flush=True)

    row = "{:<30} {:>12} {:>12} {:>26} {:>8}"
    print(f"\n{case.name}, {args.runs} runs; predicted interval: the first run's prediction")
    print(row.format("metric (phase)", "mean", "sd runs", "predicted 90 % PI", "inside"))
    inside_total = count_total = 0
    for (metric, phase), scores in sorted(by_metric.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        values = np.array([m.observed for m in scores])
        p = scores[0].predicted
        inside = sum(1 for m in scores if m.inside)
        inside_total += inside
        count_total += len(scores)
        pi = "-" if p.low is None or p.high is None else f"[{p.low:.4g}, {p.high:.4g}]"
        sd = f"{values.std(ddof=1):.4g}" if len(values) > 1 else "-"
        name = f"{metric} ({phase or 'run'})"
        print(row.format(name, f"{values.mean():.4g}", sd, pi, f"{inside}/{len(scores)}"))
    if count_total:
        share = inside_total / count_total
        print(f"\ninside their 90 % interval: {inside_total}/{count_total} ({share:.0%})")
    p50 = by_metric.get(("latency_p50", "baseline"), [])
    if len(p50) >= 3:
        between, within, speed = speed_sigma(p50, slope)
        print(
            f"baseline log p50: sd between runs {between:.4f} (sampling within a run {within:.4f}); "
            f"elasticity {slope:.3f}; implied variation.speed {speed:.4f}"
        )


if __name__ == "__main__":
    main()
