"""The same experiment on both backends: the embedded testbed (local executor) and the test cluster
(Chaos Mesh's controller through the Kubernetes API, the testbed bridged in as the cluster's node).

Runs one case of benchmarks/prediction_accuracy.py (default: the seed pod-failure, 10 pods, short
phases) once per backend, each on a fresh testbed, with the same seed and the same prediction, and
prints per backend the verdict, each criterion, and per scored metric the observed value against
the predicted 90 % interval; then whether the verdicts agree and how many values fell inside.

    .venv/bin/python benchmarks/backends.py
    .venv/bin/python benchmarks/backends.py --case pod-kill-50

Needs the control plane (bash scripts/build-control-plane.sh). Prints figures; asserts nothing.
Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prediction_accuracy import CASES, REPLICATIONS, SEED, Case, run_case, write_case

from analysis.analyse import analyse
from analysis.record import RunData
from analysis.score import ScoreCard, score_run
from chaos.spec import load_experiment
from runner.backend import ClusterTarget, cluster_seams
from runner.runner import Runner
from runner.state import RunOptions
from testbed import lifecycle
from testcluster.bridged import bridged_testbed

ROOT = Path(__file__).resolve().parent.parent


def run_on_cluster(case: Case, folder: Path) -> tuple[ScoreCard, Path]:
    spec = write_case(case, folder)
    experiment = load_experiment(spec)
    options = lifecycle.UpOptions(profile=folder / "system.yaml", artifacts=folder / "artifacts", seed=SEED)
    with bridged_testbed(folder, options, case.replicas) as up:
        urls = up.testbed.urls
        where = ClusterTarget(up.cluster.kubeconfig, None, urls.service, urls.prometheus)
        with cluster_seams(
            experiment, where, folder / "runs", SEED, True, REPLICATIONS, None, up.rules
        ) as seams:
            result = Runner(experiment, seams, RunOptions(runs_root=folder / "runs", seed=SEED)).run()
    data = RunData.load(result.record_dir)
    return score_run(data, analyse(data), result.record_dir.name), result.record_dir


def show(name: str, card: ScoreCard, record: Path) -> tuple[str, int, int]:
    verdict = json.loads((record / "verdict.json").read_text())
    print(f"\n== {name}: {verdict['status']}, resilience {card.resilience}, confidence {card.confidence}")
    for c in verdict["criteria"]:
        print(f"   {'pass' if c['passed'] else 'FAIL'}  {c['name']}")
    inside = 0
    for m in card.metrics:
        p = m.predicted
        pi = "-" if p.low is None or p.high is None else f"[{p.low:.4g}, {p.high:.4g}]"
        inside += int(m.inside)
        where = "in" if m.inside else "OUT"
        print(
            f"   {m.metric:<20} {m.phase or 'run':<9} observed {m.observed:<10.4g} predicted {pi:<24} {where}"
        )
    return str(verdict["status"]), inside, len(card.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="seed-pod-failure")
    args = parser.parse_args()
    case = next((c for c in CASES if c.name == args.case), None)
    if case is None:
        parser.error(f"--case: unknown {args.case!r}")
    results = {}
    for backend in ("testbed", "kubernetes"):
        folder = Path(tempfile.mkdtemp(prefix=f"chaoslab-backends-{backend}-"))
        try:
            began = time.monotonic()
            if backend == "testbed":
                card, _, _ = run_case(case, folder, calibrate=False)
                record = next(p for p in (folder / "runs").iterdir() if p.is_dir() and p.name != "kubernetes")
            else:
                card, record = run_on_cluster(case, folder)
            results[backend] = show(f"{backend} ({time.monotonic() - began:.0f} s)", card, record)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    (a, ai, an), (b, bi, bn) = results["testbed"], results["kubernetes"]
    print(f"\nverdicts: testbed {a}, kubernetes {b} ({'the same' if a == b else 'DIFFERENT'})")
    print(f"inside their 90 % interval: testbed {ai}/{an}, kubernetes {bi}/{bn}")


if __name__ == "__main__":
    main()
