"""How well the simulator predicts live runs: predict, run on the testbed, score, over a grid of cases.

For the two seed experiments and a grid around them (5 and 10 pods; 30 % and 50 % pod failure;
200 ms and 500 ms store delay; a pod kill; partial packet loss on the store; a load near the pods'
capacity), each case starts a testbed from its own profile, runs the experiment with short phases
under the runner (the simulator predicts it first, from the a-priori profile), and scores the
prediction against the run (analysis.score); then it calibrates the profile on the run's own
baseline, predicts again and scores that too (analysis.hindcast). It prints per case the availability error
(percentage points), the p95 relative error, the breaker-trip error, the recovery-time relative
error, whether each observed value fell inside its 90 % interval and the interval's width; then
totals against the targets:

    availability within 0.5 pp, p95 within 10 %, breaker trip within 0.5 s, recovery within 20 %,
    85-95 % of observed values inside their 90 % intervals, p95 intervals no wider than +/- 15 %.

    .venv/bin/python benchmarks/prediction_accuracy.py                 # every case (about 3 min each)
    .venv/bin/python benchmarks/prediction_accuracy.py --cases seed-pod-failure,seed-network-latency
    .venv/bin/python benchmarks/prediction_accuracy.py --list
    .venv/bin/python benchmarks/prediction_accuracy.py --keep runs/grid     # keep the case folders
    .venv/bin/python benchmarks/prediction_accuracy.py --rescore runs/grid  # re-predict kept runs

`--rescore` runs nothing: it re-predicts each kept case's recorded run with the simulator and the
case's profile as they are now (and the hindcast from the run's baseline), offline, and scores it
against the same observations, so a model or profile change can be checked against runs already
made.

Prints figures; asserts nothing. Every testbed it starts it stops, whatever happens.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.analyse import analyse  # noqa: E402
from analysis.coverage import PooledCoverage, pooled_coverage  # noqa: E402
from analysis.hindcast import hindcast, repredicted  # noqa: E402
from analysis.record import RunData  # noqa: E402
from analysis.score import MetricScore, ScoreCard, score_run  # noqa: E402
from chaos.spec import load_experiment  # noqa: E402
from runner.backend import open_testbed, testbed_seams  # noqa: E402
from runner.runner import Runner  # noqa: E402
from runner.state import RunOptions  # noqa: E402
from testbed import lifecycle  # noqa: E402
from testbed.rundir import RunDir  # noqa: E402

EXPERIMENTS = ROOT / "experiments"
PHASES = {"baseline": "40s", "chaos": "60s", "recovery": "40s"}
REPLICATIONS = 10
SEED = 0

Yaml = dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    experiment: str
    """Seed experiment file name in experiments/."""
    replicas: int = 10
    rps: float | None = None
    manifest: Callable[[Yaml], None] = field(default=lambda m: None)
    """Changes to the seed manifest."""
    fault: str | None = None
    """What the hypothesis says of the fault instead of the seed's words (SEED_FAULTS), when the
    case changes them."""


def _value(percent: int) -> Callable[[Yaml], None]:
    def change(m: Yaml) -> None:
        m["spec"]["value"] = str(percent)

    return change


def _latency(ms: int) -> Callable[[Yaml], None]:
    def change(m: Yaml) -> None:
        m["spec"]["delay"]["latency"] = f"{ms}ms"
        m["spec"]["delay"]["jitter"] = f"{ms // 5}ms"

    return change


SEED_FAULTS = {
    "network-latency.experiment.yaml": "answers 500 ms +/- 100 ms late",
    "pod-failure.experiment.yaml": "30 % of the prediction pods fail for 10 minutes",
}
"""The words of each seed hypothesis that describe its fault."""
PODS_FAIL = "{} % of the prediction pods fail for a minute"


def _loss(percent: int) -> Callable[[Yaml], None]:
    def change(m: Yaml) -> None:
        m["spec"]["action"] = "loss"
        m["spec"].pop("delay", None)
        m["spec"]["loss"] = {"loss": str(percent), "correlation": "0"}

    return change


CASES = (
    Case("seed-pod-failure", "pod-failure.experiment.yaml", fault=PODS_FAIL.format(30)),
    Case("seed-network-latency", "network-latency.experiment.yaml"),
    Case("pod-failure-5-pods", "pod-failure.experiment.yaml", replicas=5, fault=PODS_FAIL.format(30)),
    Case("pod-failure-50", "pod-failure.experiment.yaml", manifest=_value(50), fault=PODS_FAIL.format(50)),
    Case(
        "latency-200ms",
        "network-latency.experiment.yaml",
        manifest=_latency(200),
        fault="answers 200 ms +/- 40 ms late",
    ),
    Case("latency-500ms-5-pods", "network-latency.experiment.yaml", replicas=5),
    Case("pod-kill-50", "pod-kill-50.experiment.yaml"),
    Case(
        "store-loss-30",
        "network-latency.experiment.yaml",
        manifest=_loss(30),
        fault="loses 30 % of the packets sent to it",
    ),
    Case("pod-failure-near-capacity", "pod-failure.experiment.yaml", rps=400.0, fault=PODS_FAIL.format(30)),
)


# -- one case -----------------------------------------------------------------------------------
def write_case(case: Case, folder: Path) -> Path:
    """The case's profile, manifest and shortened spec in `folder`; returns the spec's path."""
    spec = yaml.safe_load((EXPERIMENTS / case.experiment).read_text())
    body = spec["spec"]
    profile = yaml.safe_load((EXPERIMENTS / body["system"]).read_text())
    profile["spec"]["service"]["replicas"] = case.replicas
    if case.rps is not None:
        load = profile["spec"]["load"]
        load["users"] = round(load["users"] * case.rps / load["rps"])
        load["rps"] = case.rps
    (folder / "system.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    body["system"] = "system.yaml"
    body["phases"] = dict(PHASES)
    body["scope"]["blastRadius"]["maxPercent"] = 100
    body["scope"]["blastRadius"].pop("maxPods", None)
    for step in body["chaos"]:
        manifest = yaml.safe_load((EXPERIMENTS / step["manifest"]).read_text())
        if "duration" in manifest["spec"]:
            manifest["spec"]["duration"] = PHASES["chaos"]
        case.manifest(manifest)
        (folder / step["manifest"]).write_text(yaml.safe_dump(manifest, sort_keys=False))
    if case.fault is not None:
        hypothesis = body["hypothesis"]
        words = SEED_FAULTS[case.experiment]
        if words not in hypothesis["statement"]:
            raise ValueError(f"{case.experiment}: hypothesis.statement no longer says {words!r}")
        hypothesis["statement"] = hypothesis["statement"].replace(words, case.fault)
    spec["metadata"]["name"] = case.name
    path = folder / f"{case.name}.experiment.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_case(case: Case, folder: Path, calibrate: bool = True) -> tuple[ScoreCard, ScoreCard | None, float]:
    """Run one case on a testbed of its own; its score card, the hindcast's (None when not
    `calibrate`) and the seconds it took."""
    spec = write_case(case, folder)
    experiment = load_experiment(spec)
    run_dir = RunDir(folder / "testbed")
    options = lifecycle.UpOptions(profile=folder / "system.yaml", artifacts=folder / "artifacts", seed=SEED)
    began = time.monotonic()
    lifecycle.start(run_dir, options)
    try:  # SIGTERM as well as Ctrl-C ends here, through the testbed's stop
        signal.signal(signal.SIGTERM, _terminate)
        with (
            open_testbed(run_dir.path) as testbed,
            testbed_seams(testbed, SEED, True, REPLICATIONS, None) as seams,
        ):
            result = Runner(experiment, seams, RunOptions(runs_root=folder / "runs", seed=SEED)).run()
    finally:
        lifecycle.stop(run_dir)
    data = RunData.load(result.record_dir)
    analysis = analyse(data)
    card = score_run(data, analysis, result.record_dir.name)
    calibrated = (
        hindcast(data, analysis, result.record_dir.name, replications=REPLICATIONS, jobs=2)
        if calibrate
        else None
    )
    return card, calibrated, time.monotonic() - began


def rescore_case(case: Case, folder: Path) -> tuple[ScoreCard, ScoreCard]:
    """The kept case in `folder` re-predicted with the simulator as it is now, from the case's
    profile as experiments/ now has it and from the run's calibrated baseline, both scored against
    the recorded observations."""
    records = sorted(p for p in (folder / "runs").glob(f"{case.name}-*") if p.is_dir())
    if not records:
        raise SystemExit(f"{folder}: no run record of {case.name} under runs/")
    record = records[-1]
    with tempfile.TemporaryDirectory(prefix=f"chaoslab-rescore-{case.name}-") as now:
        experiment = load_experiment(write_case(case, Path(now)))
    data = replace(RunData.load(record), experiment=experiment)
    analysis = analyse(data)
    card = repredicted(data, analysis, experiment, record.name, REPLICATIONS, SEED, jobs=2)
    return card, hindcast(data, analysis, record.name, replications=REPLICATIONS, jobs=2)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- figures ------------------------------------------------------------------------------------
ROW = "{:<27} {:>8} {:>8} {:>14} {:>14} {:>12} {:>10}"
TARGETS = {
    ("availability", "chaos"): 0.005,
    ("latency_p95", "chaos"): 0.10,
    ("breaker_first_trip", None): 0.5,
    ("recovery_time", None): 0.20,
}


def find(card: ScoreCard, metric: str, phase: str | None) -> MetricScore | None:
    return next((m for m in card.metrics if m.metric == metric and m.phase == phase), None)


def cell(m: MetricScore | None, kind: str) -> str:
    if m is None:
        return "-"
    inside = "in" if m.inside else "OUT"
    if kind == "pp":
        return f"{m.error * 100:+.2f}pp {inside}"
    if kind == "rel":
        rel = m.relative_error
        return "-" if rel is None else f"{rel:+.1%} {inside}"
    return f"{m.error:+.2f}s {inside}"


def print_case(name: str, card: ScoreCard, seconds: float) -> None:
    a = find(card, "availability", "chaos")
    p95 = find(card, "latency_p95", "chaos")
    trip = find(card, "breaker_first_trip", None)
    rec = find(card, "recovery_time", None)
    width = (
        "-" if p95 is None or p95.predicted.point is None else f"+/-{p95.width / 2 / p95.predicted.point:.1%}"
    )
    conf = "-" if card.confidence is None else f"{card.confidence:.0f}"
    print(
        ROW.format(name, conf, cell(a, "pp"), cell(p95, "rel"), cell(trip, "s"), cell(rec, "rel"), width),
        f"({seconds:.0f} s)" if seconds else "",
        flush=True,
    )


def totals(cards: list[ScoreCard]) -> None:
    scores = [m for c in cards for m in c.metrics]
    if not scores:
        print("\nnothing scored")
        return
    every, spread = pooled_coverage(cards), pooled_coverage(cards, with_width=True)
    print(
        f"\nall scored values: {every.covered}/{every.values} inside their 90 % interval "
        f"({every.coverage:.0%}{_ci(every)}; target 85-95 %)"
    )
    if spread.values:
        print(
            f"  of them {every.values - spread.values} with an interval of zero width (every replication "
            f"agreed: 100 % availability, all pods ready, ...); the other {spread.covered}/{spread.values} "
            f"inside ({spread.coverage:.0%}{_ci(spread)})"
        )
    for (metric, phase), target in TARGETS.items():
        found = [m for c in cards if (m := find(c, metric, phase)) is not None]
        if not found:
            print(f"{metric} ({phase or 'run'}): not observed in any case")
            continue
        if metric in ("availability", "breaker_first_trip"):
            errors = [abs(m.error) for m in found]
        else:
            errors = [abs(m.relative_error) for m in found if m.relative_error is not None]
        met = sum(1 for e in errors if e <= target)
        covered = sum(1 for m in found if m.inside)
        mean = math.fsum(errors) / len(errors) if errors else math.nan
        print(
            f"{metric} ({phase or 'run'}): within target {met}/{len(errors)}, mean |error| {mean:.4g}, "
            f"inside 90 % PI {covered}/{len(found)}"
        )


def _ci(pooled: PooledCoverage) -> str:
    """The pooled coverage's 90 % interval from resampling whole cases (analysis.coverage)."""
    if pooled.low is None or pooled.high is None:
        return ""
    return f", 90 % CI by case {pooled.low:.0%}-{pooled.high:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", type=Path, help="keep each case's folder (run records) under this path")
    parser.add_argument(
        "--rescore", type=Path, help="re-predict and score the cases kept under this path (runs nothing)"
    )
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(case.name)
        return
    wanted = set(args.cases.split(",")) if args.cases else {c.name for c in CASES}
    unknown = wanted - {c.name for c in CASES}
    if unknown:
        parser.error(f"--cases: unknown {', '.join(sorted(unknown))} (see --list)")
    print(f"phases {PHASES}; {REPLICATIONS} replications per prediction; errors are observed - predicted")
    print(ROW.format("case", "conf.", "avail.", "p95", "first trip", "recovery", "p95 PI"))
    cards: list[ScoreCard] = []
    calibrated: list[ScoreCard] = []
    for case in (c for c in CASES if c.name in wanted):
        if args.rescore is not None:
            if not (args.rescore / case.name).is_dir():
                print(f"{case.name}: not kept under {args.rescore}")
                continue
            card, again = rescore_case(case, args.rescore / case.name)
            cards.append(card)
            calibrated.append(again)
            print_case(case.name, card, 0.0)
            print_case("  calibrated (hindcast)", again, 0.0)
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"chaoslab-{case.name}-"))
        try:
            card, hind, seconds = run_case(case, folder)
            assert hind is not None
            cards.append(card)
            calibrated.append(hind)
            print_case(case.name, card, seconds)
            print_case("  calibrated (hindcast)", hind, 0.0)
        finally:
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.move(str(folder), str(args.keep / case.name))
            else:
                shutil.rmtree(folder, ignore_errors=True)
    print("\nwith the a-priori profile:")
    totals(cards)
    print("\nwith the profile calibrated on each run's own baseline (hindcast):")
    totals(calibrated)


if __name__ == "__main__":
    main()
