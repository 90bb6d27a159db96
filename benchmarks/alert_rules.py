"""What predicting the alerts costs: the rules evaluated by promtool on every replication.

    .venv/bin/python benchmarks/alert_rules.py [--replications 20] [--jobs 2]

For the seed pod-failure (15 minutes) and network-latency (10 minutes) experiments: `predict()`'s
wall time, then `sim.promtool.evaluate_alerts` with the rules evaluated every 5 s (the default) and
every second (the testbed's cadence): the wall time, and promtool's CPU time per replication (the
children's user + system time, which a busy machine moves much less than the wall time). Also the
CPU time one replication spends counting what the pods would export (sim/exported.py), which every
prediction pays. This script prints figures, it does not judge.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from chaos.spec import load_experiment
from sim.exported import exported_counts
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict
from sim.promtool import evaluate_alerts
from sim.replication import simulate

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "k8s" / "alert-rules.yaml"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    for name in ("pod-failure", "network-latency"):
        experiment = load_experiment(ROOT / "experiments" / f"{name}.experiment.yaml")
        scenario = scenario_from_experiment(experiment)
        profile = experiment.system
        trace = simulate(profile, scenario, np.random.default_rng(0))
        cpu0 = time.process_time()
        exported_counts(trace, scenario.horizon)
        counting = time.process_time() - cpu0
        wall0 = time.perf_counter()
        prediction = predict(profile, scenario, args.replications, seed=0, jobs=args.jobs)
        wall = time.perf_counter() - wall0
        print(
            f"{name} ({scenario.horizon / 60:.0f} min, {len(trace):,} requests per replication): "
            f"predict() {wall:.1f} s wall for {args.replications} replications, jobs={args.jobs}; "
            f"exported counts {counting * 1000:.1f} ms CPU per replication"
        )
        for every in (5, 1):
            cpu0, wall0 = children_cpu(), time.perf_counter()
            alerts = evaluate_alerts(
                prediction, profile, RULES, scenario.fault_start() or 0.0, evaluation=every, jobs=args.jobs
            )
            wall, cpu = time.perf_counter() - wall0, children_cpu() - cpu0
            fired = sorted({n for firing in alerts.firing for n in firing})
            print(
                f"  rules every {every} s: {wall:.1f} s wall, promtool {cpu / args.replications:.2f} s CPU "
                f"per replication; fired: {', '.join(fired) or 'none'}"
            )


if __name__ == "__main__":
    main()
