"""How fast the simulator is: the request kernel against the per-request SimPy reference, and predict().

    .venv/bin/python benchmarks/sim_throughput.py [--hours 1] [--reference-minutes 5] [--repeats 3]

1. Kernel: one replication (timeline + requests) of the system profile (10 pods, 200 requests/s,
   closed-loop users) for `--hours` with a 30 % pod-failure in the middle; simulated requests per
   CPU second of this process (one core), best of `--repeats`.
2. Reference: the same scenario, shortened to `--reference-minutes`, through the naive one-process-
   per-request model (`sim.reference`); the same figure, and the kernel's speed-up over it.
3. predict(): the network-latency scenario the CLI runs (baseline 2 m, 5 m of 500 ms +/- 100 ms
   feature-store delay, recovery 3 m, 200 requests/s: about 120,000 requests per replication), 20
   replications with jobs=2, wall time; and one replication inline for its CPU time.

Targets: >= 500,000 simulated requests/s/core, >= 4x the reference, predict() <= 10 s wall on two
cores. On a machine shared with other work wall times move with the neighbours; CPU time much less.
This script prints figures, it does not judge.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from chaos.system import SystemProfile, load_system_profile
from sim.montecarlo import predict
from sim.reference import simulate_reference
from sim.replication import run_replication, simulate
from sim.scenario import Phase, PodFault, Scenario, StoreFault
from sim.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
MINUTE = 60.0
PER_CORE = "req/s/core (CPU time, best run)"


def pod_failure(seconds: float) -> Scenario:
    """Baseline a fifth of the run, 30 % of the pods failed for the middle three fifths, recovery."""
    fifth = seconds / 5
    phases = (
        Phase("baseline", 0, fifth),
        Phase("chaos", fifth, 4 * fifth),
        Phase("recovery", 4 * fifth, seconds),
    )
    return Scenario(phases, pod_faults=(PodFault("pod-failure", fifth, 3 * fifth, "fixed-percent", "30"),))


def network_latency() -> Scenario:
    phases = (
        Phase("baseline", 0, 2 * MINUTE),
        Phase("chaos", 2 * MINUTE, 7 * MINUTE),
        Phase("recovery", 7 * MINUTE, 10 * MINUTE),
    )
    delay = StoreFault("delay", 2 * MINUTE, 5 * MINUTE, latency=0.5, jitter=0.1, correlation=0.25)
    return Scenario(phases, store_faults=(delay,))


Model = Callable[[SystemProfile, Scenario, np.random.Generator], Trace]


def rate(model: Model, profile: SystemProfile, scenario: Scenario, repeats: int) -> tuple[float, int, float]:
    """Best simulated requests per CPU second over `repeats` runs, the request count, and wall time."""
    best, count, wall = 0.0, 0, 0.0
    for seed in range(repeats):
        rng = np.random.default_rng(seed)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        trace = model(profile, scenario, rng)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        count = len(trace)
        best = max(best, count / cpu)
    return best, count, wall


def report(label: str, requests: int, per_second: float, wall: float) -> None:
    print(f"{label}: {requests:,} requests, {per_second:,.0f} {PER_CORE}; last run {wall:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=float, default=1.0, help="kernel run length")
    parser.add_argument("--reference-minutes", type=float, default=5.0, help="reference run length")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    profile = load_system_profile(ROOT / "experiments" / "system.yaml")
    pods, rps = profile.service.replicas, profile.load.rps
    print(f"machine: {os.cpu_count()} CPUs; profile: {pods} pods, {rps:g} req/s")

    kernel, n_kernel, wall = rate(simulate, profile, pod_failure(args.hours * 3600), args.repeats)
    report(f"kernel, pod-failure {args.hours:g} h", n_kernel, kernel, wall)
    minutes = args.reference_minutes
    repeats = max(1, args.repeats - 1)
    reference, n_ref, wall = rate(simulate_reference, profile, pod_failure(minutes * MINUTE), repeats)
    report(f"reference, pod-failure {minutes:g} min", n_ref, reference, wall)
    print(f"speed-up of the kernel over the reference: {kernel / reference:.1f}x")

    scenario = network_latency()
    cpu0 = time.process_time()
    one = run_replication(profile, scenario, np.random.SeedSequence(0))
    cpu = time.process_time() - cpu0
    requests = sum(int(p["requests"]) for p in one.phases)
    print(f"one network-latency replication (summary included): {requests:,} requests, {cpu:.3f} s CPU")
    wall0 = time.perf_counter()
    prediction = predict(profile, scenario, replications=args.replications, seed=0, jobs=args.jobs)
    wall = time.perf_counter() - wall0
    p95 = prediction.metric("latency_p95", "chaos")
    print(
        f"predict(): {args.replications} replications, jobs={args.jobs}: {wall:.2f} s wall "
        f"(chaos p95 {p95.point:.3f} s, interval {p95.low:.3f}-{p95.high:.3f})"
    )


if __name__ == "__main__":
    main()
