"""Before a run touches anything: the testbed runs, every pod is ready, Prometheus is up and useful.

Every problem is collected and reported at once, as one PrerequisiteError line that says what to do.
Things that do not stop a run but make its comparison weaker (the testbed runs a different replica
count than the experiment's system profile) come back as warnings.
"""

from __future__ import annotations

from chaos.errors import ChaosLabError, PrerequisiteError
from chaos.spec import AlertsCriterion, Experiment
from runner.executors.base import SystemView
from runner.prometheus import PrometheusReader

START_HINT = "start it with `chaoslab testbed up` (or pass the --run-dir it uses) and try again"
WAIT_HINT = (
    "wait until `chaoslab testbed status` shows every pod ready and no fault, or run `chaoslab cleanup`"
)


def prerequisite_error(message: str, hint: str) -> PrerequisiteError:
    error = PrerequisiteError(message)
    error.hint = hint
    return error


def check_prerequisites(
    experiment: Experiment, testbed: SystemView, prometheus: PrometheusReader
) -> list[str]:
    """Raise PrerequisiteError naming every problem; return warnings."""
    try:
        phase = testbed.phase()
        pods = testbed.pods()
        rules = set(testbed.alert_names())
    except ChaosLabError as exc:
        raise prerequisite_error(
            f"the testbed at {testbed.location} does not answer ({exc})", START_HINT
        ) from exc
    if phase != "running":
        raise prerequisite_error(f"the testbed at {testbed.location} is {phase}, not running", START_HINT)
    problems: list[str] = []
    desired = testbed.desired()
    not_ready = sorted(p.name for p in pods if not p.ready)
    if not_ready:
        problems.append(f"pods not ready: {', '.join(not_ready)}")
    if len(pods) != desired:
        problems.append(f"{len(pods)} pods exist, {desired} desired")
    problems.extend(_prometheus_problems(experiment, prometheus, rules))
    if problems:
        raise prerequisite_error("; ".join(problems), WAIT_HINT)
    warnings = []
    replicas = experiment.system.service.replicas
    if replicas != desired:
        warnings.append(
            f"the testbed runs {desired} pods but {experiment.system.source or 'the system profile'} says "
            f"{replicas}: the prediction is about {replicas}"
        )
    return warnings


def _prometheus_problems(experiment: Experiment, prometheus: PrometheusReader, rules: set[str]) -> list[str]:
    if not prometheus.is_up():
        return [f"Prometheus at {prometheus.url} does not answer"]
    problems = []
    try:
        down = [t for t in prometheus.targets() if t.health != "up"]
        loaded = prometheus.rules_loaded()
    except ChaosLabError as exc:
        return [str(exc)]
    if down:
        listed = ", ".join(
            f"{t.job} {t.instance} ({t.health}{': ' + t.error if t.error else ''})" for t in down
        )
        problems.append(f"Prometheus targets not up: {listed}")
    if loaded == 0:
        problems.append(f"Prometheus at {prometheus.url} has no rules loaded")
    wanted = {a for c in experiment.success_criteria if isinstance(c, AlertsCriterion) for a in c.alerts}
    missing = sorted(wanted - rules)
    if missing:
        problems.append(f"alert rules the success criteria need are not configured: {', '.join(missing)}")
    return problems
