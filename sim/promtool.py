"""The alert rules evaluated on the replications by Prometheus' own rule engine: `promtool test rules`.

Every replication becomes one test group of a generated unit-test file: its series
(sim/alert_series.py) as `input_series`, and at every evaluation time one `promql_expr_test` of
`ALERTS{alertstate="firing"}` (the series the rule engine writes for each firing alert, which a run
records too: analysis/signals.py) expecting nothing. promtool evaluates the rules over the group's
series at the file's `evaluation_interval`, as a Prometheus server does, then runs the queries;
whenever an alert was firing the query's expectation fails and promtool prints what it got. The
query tags its answer with the replication and the time (`label_replace`), so the failure report
lists, for every replication and evaluation, the firing alerts; any other line in it is an error.

Cost: promtool spends most of its time expanding the rules' label and annotation templates at every
evaluation of every firing alert. Neither changes when an alert fires, so the rules are evaluated
without their annotations and without labels that hold no template (constant per rule); the rules
the simulator cannot feed (sim/alerts.py, `AlertRule.missing`) are left out. The replications are
split over `jobs` promtool processes, each given one file (JSON, which promtool reads as YAML).

Evaluation phase: a Prometheus server evaluates a rule group every `evaluation_interval` at a phase
of its own (a hash of the group), which has nothing to do with when an experiment starts its
faults, and scrapes each target at a phase of its own too. So where the alert fires after a fault
starts varies from run to run by up to one evaluation interval (and a scrape), a run-to-run source
the replications alone do not hold. Each replication is therefore given its own phase, drawn
uniformly from [0, evaluation) seconds on a random stream of the prediction's seed (PHASE_STREAM):
its series are rendered from the scrape at the phase's whole seconds on, so promtool's evaluation at
its time t sees what the replication's evaluation at t + phase sees (the scrapes are whole seconds
apart), and its firing times are reported as t + phase, on the replication's clock. Even with an
evaluation every second, as on the testbed, that leaves the up-to-a-second spread a real run has.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chaos.documents import read_document
from chaos.errors import ChaosLabError, InvalidSpecError, SimulationError
from chaos.system import SystemProfile
from sim.alert_series import InputSeries, render, rendered
from sim.alerts import AlertPrediction, Firing, alert_rules
from sim.montecarlo import PHASE_STREAM, Prediction, stream

FIRING = 'ALERTS{alertstate="firing"}'
REPLICATION_LABEL, TIME_LABEL = "sim_replication", "sim_time"
SCRAPE_INTERVAL = 1
"""Seconds between scrapes of the rendered series: the testbed's."""
EVALUATION_INTERVAL = 5
"""Seconds between evaluations of the rules by default (the testbed evaluates every second; every
5 s costs a fifth and still gives `for: 10s` two evaluations; first-fire times are to 5 s)."""
_GOT = re.compile(r"^\s*got: (.*)$")
_SAMPLE = re.compile(r'\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\} (\S+?)(?:, |$)')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_REPORT = re.compile(r'^\s*(?:Unit Testing: .*|SUCCESS|FAILED:|expr: ".*", time: .*|exp: nil|got: .*)?$')
"""Every line of promtool's report when the only failures are the firing alerts."""


class PromtoolNotFoundError(ChaosLabError):
    """promtool (Prometheus' command-line tool) is not on PATH."""

    hint = "install promtool (Debian package prometheus; scripts/setup.sh does), or predict with --no-alerts"


class AlertRulesError(ChaosLabError):
    """The alert rules file cannot be read as Prometheus rules."""

    hint = "give a Prometheus rules file with --rules, or predict with --no-alerts"


class PromtoolError(ChaosLabError):
    """promtool did not evaluate the rules (a bad rules file, or promtool failed)."""

    hint = "check the rules with `promtool check rules FILE`"


def find_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise PromtoolNotFoundError("promtool not found on PATH: the alert rules cannot be evaluated")
    return path


def read_rule_groups(path: Path) -> list[dict[str, Any]]:
    """The rule groups of a rules file: plain Prometheus format or a PrometheusRule object."""
    try:
        doc = read_document(path)
    except InvalidSpecError as exc:
        raise AlertRulesError(f"alert rules {path}: {'; '.join(p.message for p in exc.problems)}") from exc
    if isinstance(doc, dict) and isinstance(doc.get("spec"), dict):
        doc = doc["spec"]
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise AlertRulesError(f"{path}: groups must be a list of Prometheus rule groups")
    return groups


def firing_rules(groups: Sequence[Mapping[str, Any]], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The rules as evaluated: alerting rules only, not those named in `skip`, without annotations
    and without labels holding no template (they do not change when an alert fires)."""
    out = []
    for group in groups:
        rules = []
        for rule in group.get("rules", []):
            if not isinstance(rule, Mapping) or "alert" not in rule or rule["alert"] in skip:
                continue
            kept = {k: v for k, v in rule.items() if k not in ("annotations", "labels")}
            templated = {k: v for k, v in (rule.get("labels") or {}).items() if "{{" in str(v)}
            if templated:
                kept["labels"] = templated
            rules.append(kept)
        if rules:
            out.append({**{k: v for k, v in group.items() if k != "rules"}, "rules": rules})
    return {"groups": out}


def evaluation_phases(seed: int, replications: int, evaluation: int) -> list[float]:
    """Per replication, the seconds in [0, evaluation) by which its rule evaluations lag t = 0:
    uniform, on the seed's PHASE_STREAM."""
    if evaluation < 1:
        raise SimulationError(f"evaluation={evaluation} must be a whole number of seconds >= 1")
    return [float(x) for x in stream(seed, PHASE_STREAM).uniform(0.0, evaluation, size=replications)]


def unit_test_file(
    rules_file: str,
    groups: Sequence[Sequence[InputSeries]],
    horizons: Sequence[float],
    scrape: int,
    evaluation: int,
) -> dict[str, Any]:
    """promtool's unit-test file: one group per replication (index = its position in `groups`),
    queried for the firing alerts at every evaluation from t = 0 to its horizon (promtool's clock)."""
    return {
        "rule_files": [rules_file],
        "evaluation_interval": f"{evaluation}s",
        "tests": [
            {
                "interval": f"{scrape}s",
                "input_series": [s.to_dict() for s in series],
                "promql_expr_test": [
                    {"expr": _tagged(i, t), "eval_time": f"{t}s", "exp_samples": []}
                    for t in range(0, math.floor(horizon) + 1, evaluation)
                ],
            }
            for i, (series, horizon) in enumerate(zip(groups, horizons, strict=True))
        ],
    }


def _tagged(replication: int, t: int) -> str:
    inner = f'label_replace({FIRING}, "{REPLICATION_LABEL}", "{replication}", "", "")'
    return f'label_replace({inner}, "{TIME_LABEL}", "{t}", "", "")'


def parse_firing(
    report: str, replications: int, phases: Sequence[float] | None = None
) -> list[dict[str, list[float]]]:
    """Per replication, alert name -> firing times, from promtool's report of the failed queries;
    each replication's times shifted by its phase (promtool's clock to the replication's)."""
    shift = list(phases) if phases is not None else [0] * replications
    firing: list[dict[str, set[float]]] = [{} for _ in range(replications)]
    for line in report.splitlines():
        if not _REPORT.match(line):
            raise PromtoolError(f"promtool test rules: {report.strip()[:2000]}")
        got = _GOT.match(line)
        if got is None or got.group(1) == "nil":
            continue
        for labels_text, _ in _SAMPLE.findall(got.group(1)):
            labels = dict(_LABEL.findall(labels_text))
            i, t = int(labels[REPLICATION_LABEL]), float(labels[TIME_LABEL])
            # an alert per pod: once per time
            firing[i].setdefault(labels["alertname"], set()).add(t + shift[i])
    return [{name: sorted(times) for name, times in by_alert.items()} for by_alert in firing]


def run_promtool(promtool: str, path: Path, test: Mapping[str, Any], timeout: float) -> str:
    """`promtool test rules` on `test`, written to `path` (its rule files relative to it); the
    report (stdout and stderr)."""
    path.write_text(json.dumps(test), encoding="utf-8")
    try:
        result = subprocess.run(
            [promtool, "test", "rules", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PromtoolError(f"promtool test rules took more than {timeout:.0f} s") from exc
    report = result.stdout + result.stderr
    if result.returncode not in (0, 1):
        raise PromtoolError(f"promtool test rules exited {result.returncode}: {report.strip()[:2000]}")
    return report


def evaluate_alerts(
    prediction: Prediction,
    profile: SystemProfile,
    rules: Path,
    since: float,
    scrape: int = SCRAPE_INTERVAL,
    evaluation: int = EVALUATION_INTERVAL,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    version: str | None = None,
) -> AlertPrediction:
    """Every replication's firing alerts under the rules in `rules`, evaluated every `evaluation`
    seconds on series scraped every `scrape` seconds (the testbed does both every second); `since`
    is when the first fault starts (s from the run's start); `version` is the model version a
    rollout serves. Each replication's evaluations lag t = 0 by its phase (evaluation_phases)."""
    promtool = find_promtool()
    groups = read_rule_groups(rules)
    rules_read = alert_rules(groups)
    metrics = rendered(profile)
    skip = frozenset(r.name for r in rules_read if r.missing_from(metrics))
    phases = evaluation_phases(prediction.seed, len(prediction.replications), evaluation)
    series = [
        render(r, profile, prediction.horizon, scrape, version, offset=math.floor(phase))
        for r, phase in zip(prediction.replications, phases, strict=True)
    ]
    chunks = [list(range(i, len(series), jobs)) for i in range(min(jobs, len(series)))]
    firing: list[Firing] = [{} for _ in series]
    # promtool takes under a second per replication of a 10-minute run: allow plenty.
    timeout = 60 + 10 * len(series) * prediction.horizon / 600
    with tempfile.TemporaryDirectory(prefix="sim-alerts-") as tmp:
        folder = Path(tmp)
        (folder / "rules.json").write_text(json.dumps(firing_rules(groups, skip)), encoding="utf-8")

        def run(chunk: list[int]) -> list[dict[str, list[float]]]:
            part = [series[i] for i in chunk]
            horizons = [prediction.horizon - phases[i] for i in chunk]
            test = unit_test_file("rules.json", part, horizons, scrape, evaluation)
            report = run_promtool(promtool, folder / f"replications-{chunk[0]}.json", test, timeout)
            return parse_firing(report, len(chunk), [phases[i] for i in chunk])

        done = 0
        with ThreadPoolExecutor(max_workers=max(len(chunks), 1)) as pool:
            for chunk, result in zip(chunks, pool.map(run, chunks), strict=True):
                for i, by_alert in zip(chunk, result, strict=True):
                    firing[i] = by_alert
                done += len(chunk)
                if progress is not None:
                    progress(done, len(series))
    return AlertPrediction(
        str(rules), rules_read, since, float(scrape), float(evaluation), tuple(firing), metrics
    )
