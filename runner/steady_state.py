"""The steady-state check before injection: does the baseline meet the hypothesis' own thresholds?

Pure. The checks are the experiment's threshold criteria on availability and p95 latency (whatever
phase they name: a service that misses its chaos-phase SLO before any chaos has nothing to prove),
plus every threshold criterion that names the baseline phase. They are evaluated on the baseline
requests the load has released by the time the chaos phase begins. Without any baseline request
the check fails: the load or the service is not working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.observed import RequestRecord, point_metrics
from chaos.spec import Experiment, ThresholdCriterion

STEADY_METRICS = ("availability", "latency_p95")


@dataclass(frozen=True)
class SteadyState:
    requests: int
    values: dict[str, float | None]
    failures: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "requests": self.requests,
            "values": self.values,
            "failures": list(self.failures),
        }


def steady_state_checks(experiment: Experiment) -> tuple[ThresholdCriterion, ...]:
    return tuple(
        c
        for c in experiment.success_criteria
        if isinstance(c, ThresholdCriterion) and (c.metric in STEADY_METRICS or c.phase == "baseline")
    )


def check_steady_state(
    experiment: Experiment, records: Sequence[RequestRecord], duration: float
) -> SteadyState:
    """Evaluate the checks on the baseline `records`, sent over `duration` seconds."""
    values = point_metrics(records, duration)
    failures = []
    if not records:
        failures.append("no request of the baseline phase was recorded")
    for criterion in steady_state_checks(experiment):
        value = values.get(criterion.metric)
        if value is None:
            if records:
                failures.append(f"{criterion.metric} undefined in the baseline ({criterion.name})")
        elif not criterion.holds(value):
            failures.append(
                f"baseline {criterion.metric} {value:.4g} is not {criterion.op} {criterion.threshold:g} "
                f"({criterion.name})"
            )
    shown = {m: values.get(m) for m in STEADY_METRICS}
    shown.update({c.metric: values.get(c.metric) for c in steady_state_checks(experiment)})
    return SteadyState(len(records), shown, tuple(failures))
