"""prediction.json: the forecast summary written and read back by one class, errors naming the field."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chaos.spec import load_experiment
from sim.alerts import AlertPrediction, AlertRule
from sim.forecast import forecast
from sim.forecast_summary import ForecastFormatError, ForecastSummary
from sim.from_spec import scenario_from_experiment
from sim.montecarlo import predict

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def summary_dict() -> dict[str, object]:
    experiment = load_experiment(EXPERIMENTS / "pod-kill-50.experiment.yaml")
    scenario = scenario_from_experiment(experiment)
    prediction = predict(experiment.system, scenario, replications=3, seed=4, jobs=1)
    data: dict[str, object] = json.loads(json.dumps(forecast(experiment, prediction, ALERTS).to_dict()))
    return data


ALERTS = AlertPrediction(
    source="k8s/alert-rules.yaml",
    rules=(
        AlertRule("MLServicePodsUnavailable", "kube_deployment_spec_replicas > 0"),
        AlertRule("MLServiceHighErrorRate", "mlservice_requests_total > 0"),
        AlertRule("MLServicePredictionDistributionShift", "mlservice_predictions_total > 0"),
    ),
    since=120.0,
    scrape=1.0,
    evaluation=5.0,
    firing=({"MLServicePodsUnavailable": [120.0, 125.0]}, {"MLServicePodsUnavailable": [125.0]}, {}),
)


def test_a_forecast_reads_back_to_the_same_json(summary_dict: dict[str, object]) -> None:
    summary = ForecastSummary.from_dict(summary_dict)
    assert json.loads(json.dumps(summary.to_dict())) == summary_dict


def test_the_predicted_alerts_read_back(summary_dict: dict[str, object]) -> None:
    summary = ForecastSummary.from_dict(summary_dict)
    assert [a.name for a in summary.alerts] == [r.name for r in ALERTS.rules]
    pods = summary.alert("MLServicePodsUnavailable")
    assert pods is not None and pods.probability == 2 / 3
    assert pods.first_fire is not None and pods.first_fire.point == 2.5 and pods.first_fire.count == 2
    assert pods.duration is not None and pods.duration.point == 5.0  # (10 + 5 + 0) / 3
    shift = summary.alert("MLServicePredictionDistributionShift")
    assert shift is not None and shift.probability is None and "does not model" in shift.note
    assert summary.alert("nope") is None
    assert summary.alert_evaluation is not None and summary.alert_evaluation.evaluation_interval == 5.0
    criterion = summary.criterion("pods-unavailable alert fires")
    assert criterion is not None and criterion.probability == 2 / 3


def test_a_forecast_without_alerts_reads_back_without_them(summary_dict: dict[str, object]) -> None:
    older = {k: v for k, v in summary_dict.items() if k not in ("alerts", "alertEvaluation")}
    summary = ForecastSummary.from_dict(older)
    assert summary.alerts == () and summary.alert_evaluation is None
    assert json.loads(json.dumps(summary.to_dict())) == older


def test_the_summary_answers_per_metric_phase_and_criterion(summary_dict: dict[str, object]) -> None:
    summary = ForecastSummary.from_dict(summary_dict)
    raw = summary_dict["prediction"]["metrics"]  # type: ignore[index]
    p95 = summary.prediction.metric("latency_p95", "chaos")
    assert p95 is not None and p95.point == raw["latency_p95"]["chaos"]["point"]
    recovery = summary.prediction.metric("recovery_time")
    assert recovery is not None and recovery.count == raw["recovery_time"]["count"]
    assert summary.prediction.metric("latency_p95", "no-such-phase") is None
    assert summary.prediction.metric("no_such_metric") is None
    names = [c["name"] for c in summary_dict["criteria"]]  # type: ignore[index,union-attr]
    assert [c.name for c in summary.criteria] == names
    assert summary.criterion(names[0]) is summary.criteria[0] and summary.criterion("nope") is None
    band = summary.prediction.series["availability"]
    assert len(band.time) == len(band.mean) == math.ceil(summary.prediction.horizon)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("hypothesis"), r"prediction\.json\.hypothesis: missing"),
        (lambda d: d.update(schemaVersion=99), r"schemaVersion=99; this version reads 1"),
        (lambda d: d["experiment"].update(name=5), r"prediction\.json\.experiment\.name=5: expected str"),
        (lambda d: d["prediction"].update(replications="ten"), r"prediction\.replications='ten'"),
        (lambda d: d["criteria"].append(3), r"prediction\.json\.criteria\[\d+\]: expected an object"),
        (lambda d: d.update(alerts={}), r"prediction\.json\.alerts=\{\}: expected list"),
        (lambda d: d["alerts"][0].update(probability="x"), r"prediction\.json\.alerts\[0\]\.probability='x'"),
        (lambda d: d["alertEvaluation"].pop("since"), r"prediction\.json\.alertEvaluation\.since=None"),
    ],
)
def test_a_file_that_is_not_a_forecast_names_the_field(
    summary_dict: dict[str, object], change: object, message: str
) -> None:
    broken = json.loads(json.dumps(summary_dict))
    change(broken)  # type: ignore[operator]
    with pytest.raises(ForecastFormatError, match=message):
        ForecastSummary.from_dict(broken)


def test_a_forecast_that_is_not_an_object_is_one_error() -> None:
    with pytest.raises(ForecastFormatError, match=r"prediction\.json: expected an object, got list"):
        ForecastSummary.from_dict([1, 2])
