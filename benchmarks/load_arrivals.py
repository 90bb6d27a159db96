"""How evenly a run's load sent its requests: the arrival pattern the simulator assumes, checked.

The simulator's closed-loop users send on a grid, spread over their pacing period
(chaos.pacing); a load generator whose users drift into clumps sends the same rate in bursts,
and bursts queue behind a pod's model slots where an even stream does not. This reads the request
records of one or more run directories (`RUN_DIR/load`) and prints per phase:

- the share of gaps between consecutive request starts under 1 ms (at 200 req/s an even stream
  has none; a stream of clumps has most of them),
- the dispersion of the counts per 30 ms window (variance / mean: about 0 for an even stream, 1 for
  Poisson arrivals, far above 1 for clumps),
- the clumps per pacing period: request starts more than 2 ms after the one before, per period.

    .venv/bin/python benchmarks/load_arrivals.py runs/network-latency-20261202T165432Z

Prints figures; asserts nothing; needs no testbed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from load import read_records, read_run_marker

TIGHT = 0.001
"""Gaps under this are requests started together."""
WINDOW = 0.03
CLUMP_GAP = 0.002
"""A start more than this after the previous one begins a new clump."""


def describe(run_dir: Path) -> None:
    load_dir = run_dir / "load"
    records = read_records(load_dir)
    marker = read_run_marker(load_dir) or {}
    plan = marker.get("plan", {})
    rps, users = plan.get("rps"), plan.get("users")
    period = users / rps if rps and users else None
    print(
        f"\n{run_dir.name}: {len(records)} requests" + (f", {users} users at {rps:g} rps" if period else "")
    )
    print(f"  {'phase':<10} {'requests':>8} {'gaps < 1 ms':>11} {'dispersion':>10} {'clumps/period':>13}")
    phases = dict.fromkeys(r.phase for r in records)
    for phase in phases:
        t = np.sort(np.array([r.time for r in records if r.phase == phase]))
        if len(t) < 3:
            continue
        gaps = np.diff(t)
        counts = np.bincount(((t - t[0]) / WINDOW).astype(int))
        dispersion = counts.var() / counts.mean()
        span = t[-1] - t[0]
        clumps = (np.sum(gaps > CLUMP_GAP) + 1) / (span / period) if period and span > 0 else float("nan")
        print(f"  {phase:<10} {len(t):8d} {np.mean(gaps < TIGHT):11.1%} {dispersion:10.2f} {clumps:13.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run record directories")
    args = parser.parse_args()
    for run_dir in args.run_dirs:
        if not (run_dir / "load").is_dir():
            print(f"{run_dir}: no load/ folder: not a run record", file=sys.stderr)
            return 2
        describe(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
