"""chaoslab's simulator: a discrete-event model of the prediction service under chaos.

    from sim import Phase, PodFault, Scenario, predict
    prediction = predict(profile, Scenario((Phase("chaos", 0, 60),), (PodFault("pod-kill", 10),)))
    prediction.metric("availability", "chaos")      # Estimate(point, low, high, count)

See sim/README.md for the model, its semantics and the prediction JSON schema.
"""

from sim.montecarlo import Band, Estimate, Prediction, predict
from sim.queueing import MMc
from sim.reference import simulate_reference
from sim.replication import run_replication, simulate
from sim.result import PhaseStats, Replication
from sim.scenario import InvalidScenarioError, Phase, PodFault, Scenario, StoreFault
from sim.timeline import Event, Timeline
from sim.trace import Trace

__all__ = [
    "Band",
    "Estimate",
    "Event",
    "InvalidScenarioError",
    "MMc",
    "Phase",
    "PhaseStats",
    "PodFault",
    "Prediction",
    "Replication",
    "Scenario",
    "StoreFault",
    "Timeline",
    "Trace",
    "predict",
    "run_replication",
    "simulate",
    "simulate_reference",
]
