"""The hindcast: a run's chaos re-predicted from its own calibrated baseline, and scored.

If the prediction from the a-priori profile was off but the hindcast is right, the model is right
and its parameters were wrong (calibrate before the next run); if the hindcast is off as well, the
model misses something the run showed. The baseline is calibrated (analysis.calibration), the whole
experiment predicted again from the calibrated profile with the simulator, and that forecast scored
against the same observations (analysis.score) as the run's own prediction was.
"""

from __future__ import annotations

from dataclasses import replace

from analysis.analyse import Analysis
from analysis.calibration import RESAMPLES, calibrate
from analysis.record import RunData
from analysis.score import ScoreCard, score_run
from chaos.spec import Experiment
from sim.forecast import forecast
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

REPLICATIONS = 10


def hindcast(
    data: RunData,
    analysis: Analysis,
    run: str = "",
    replications: int = REPLICATIONS,
    seed: int = 0,
    jobs: int = 1,
    resamples: int = RESAMPLES,
) -> ScoreCard:
    """The score card of the run's chaos predicted from its calibrated baseline."""
    calibrated = calibrate(data, resamples=resamples, seed=seed, jobs=jobs).profile
    load = replace(
        data.experiment.load,
        pacing_lateness=calibrated.load.pacing_lateness,
        start_delay=calibrated.load.start_delay,
    )
    experiment = replace(data.experiment, system=calibrated, load=load)
    return repredicted(data, analysis, experiment, f"{run} (hindcast)".strip(), replications, seed, jobs)


def repredicted(
    data: RunData,
    analysis: Analysis,
    experiment: Experiment,
    run: str = "",
    replications: int = REPLICATIONS,
    seed: int = 0,
    jobs: int = 1,
) -> ScoreCard:
    """The run's observations scored against `experiment` (its profile included) predicted anew."""
    scenario = scenario_from_experiment(experiment)
    prediction = predict(experiment.system, scenario, replications=replications, seed=seed, jobs=jobs)
    summary = forecast(experiment, prediction).summary()
    return score_run(replace(data, forecast=summary), analysis, run)
