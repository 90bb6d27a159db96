"""The forecast as it travels: what prediction.json holds, written and read by one class.

`sim.forecast.Forecast` is the live forecast, holding every replication. What a run records, and
what the analysis reads back, is its summary: the filled hypothesis blanks, each criterion's
predicted estimate and probability, the prediction's per-phase estimates, error and fallback
shares and per-second bands, and, when the alert rules were evaluated on the replications
(sim/promtool.py), each alert's odds of firing, first-fire time and firing duration; a forecast
written without them reads back with none. `ForecastSummary.to_dict` writes the JSON documented in
sim/README.md ("Forecast JSON"); `ForecastSummary.from_dict` reads it back, naming the field that is
wrong when a file does not hold a forecast. `from_dict(d).to_dict() == d` for every forecast this
version writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Any

import numpy as np

from chaos.errors import ChaosLabError
from chaos.metrics import SERIES
from sim.montecarlo import INTERVAL, SCHEMA_VERSION, Band, Estimate, Prediction
from sim.result import PHASE_METRICS, RUN_METRICS, SKETCH_LEVELS

FORECAST_SCHEMA_VERSION = 1


class ForecastFormatError(ChaosLabError):
    """A file meant to hold a forecast (prediction.json) does not."""

    hint = "predict again with `sim predict --format json`, or re-run the experiment"


@dataclass(frozen=True)
class BlankSummary:
    """One filled blank of the hypothesis, in the blank's unit."""

    name: str
    metric: str
    phase: str | None
    relative_to: str | None
    unit: str
    bound: str
    value: float | None
    text: str
    estimate: Estimate


@dataclass(frozen=True)
class CriterionSummary:
    """What the prediction says of one success criterion (None where it predicts nothing)."""

    name: str
    type: str
    description: str
    predicted: Estimate | None
    probability: float | None
    note: str = ""
    metric: str | None = None
    phase: str | None = None
    op: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class AlertSummary:
    """What the prediction says of one alerting rule (sim.alerts): None where it predicts nothing."""

    name: str
    probability: float | None
    """Share of replications in which it fired at or after the first fault's start."""
    first_fire: Estimate | None
    """Seconds from the first fault's start to its first firing evaluation."""
    duration: Estimate | None
    """Seconds it fired from the first fault's start to the end of the run (0 where it did not)."""
    note: str = ""


@dataclass(frozen=True)
class AlertEvaluation:
    """How the alert rules were evaluated on the replications (sim/promtool.py)."""

    rules: str
    """The rules file, as given."""
    scrape_interval: float
    evaluation_interval: float
    since: float
    """The first fault's start (s from the run's start): the alerts' times count from here."""


@dataclass(frozen=True)
class PredictionSummary:
    """The Monte Carlo prediction's estimates (sim.montecarlo.Prediction.to_dict, read back)."""

    replications: int
    seed: int
    interval: tuple[float, float]
    horizon: float
    phases: tuple[tuple[str, float, float], ...]
    metrics: Mapping[str, Mapping[str, Estimate]]
    """Per-phase metrics: metric -> phase -> estimate."""
    run_metrics: Mapping[str, Estimate]
    """Whole-run metrics (breaker_first_trip, breaker_trips, recovery_time)."""
    errors: Mapping[str, Mapping[str, Estimate]]
    fallback_reasons: Mapping[str, Mapping[str, Estimate]]
    series: Mapping[str, Band]
    latency_sketches: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Per phase, the successful-request latency at SKETCH_LEVELS (sim.result), pooled over
    replications; the analysis compares it with the observed latency distribution."""

    def metric(self, name: str, phase: str | None = None) -> Estimate | None:
        """The estimate of `name` in `phase` (None for a whole-run metric); None when not predicted."""
        if phase is None:
            return self.run_metrics.get(name)
        return self.metrics.get(name, {}).get(phase)

    @classmethod
    def of(cls, prediction: Prediction) -> PredictionSummary:
        """The estimates of a Monte Carlo prediction."""
        names = [p.name for p in prediction.phases]
        return cls(
            replications=len(prediction.replications),
            seed=prediction.seed,
            interval=INTERVAL,
            horizon=prediction.horizon,
            phases=tuple((p.name, p.start, p.end) for p in prediction.phases),
            metrics={m: {p: prediction.metric(m, p) for p in names} for m in PHASE_METRICS},
            run_metrics={m: prediction.metric(m) for m in RUN_METRICS},
            errors={p: prediction.error_shares(p) for p in names},
            fallback_reasons={p: prediction.fallback_shares(p) for p in names},
            series={name: prediction.series(name) for name in SERIES},
            latency_sketches={p: prediction.latency_sketch(p) for p in names},
        )

    def to_dict(self) -> dict[str, Any]:
        series: dict[str, Any] = {"time": [float(t) for t in np.arange(math.ceil(self.horizon))]}
        for name, band in self.series.items():
            series[name] = {"mean": _floats(band.mean), "low": _floats(band.low), "high": _floats(band.high)}
        return {
            "schemaVersion": SCHEMA_VERSION,
            "replications": self.replications,
            "seed": self.seed,
            "interval": {"low": self.interval[0], "high": self.interval[1]},
            "horizon": self.horizon,
            "phases": [{"name": n, "start": s, "end": e} for n, s, e in self.phases],
            "metrics": {
                **{m: {p: e.to_dict() for p, e in by.items()} for m, by in self.metrics.items()},
                **{m: e.to_dict() for m, e in self.run_metrics.items()},
            },
            "errors": _nested_dict(self.errors),
            "fallbackReasons": _nested_dict(self.fallback_reasons),
            "series": series,
            "latencySketch": {
                "levels": [float(x) for x in SKETCH_LEVELS],
                **{phase: _floats(sketch) for phase, sketch in self.latency_sketches.items()},
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "prediction") -> PredictionSummary:
        r = _Reader(data, where)
        metrics: dict[str, dict[str, Estimate]] = {}
        run_metrics: dict[str, Estimate] = {}
        for name, value in r.mapping("metrics").items():
            inner = _Reader(value, f"{where}.metrics.{name}")
            if "count" in value:
                run_metrics[name] = inner.estimate()
            else:
                metrics[name] = {p: inner.sub(p).estimate() for p in value}
        raw_series = r.mapping("series")
        series = {
            name: _band(raw_series["time"], _Reader(v, f"{where}.series.{name}"))
            for name, v in raw_series.items()
            if name != "time"
        }
        interval = r.mapping("interval")
        sketch = _Reader(data.get("latencySketch", {}), f"{where}.latencySketch")
        return cls(
            replications=int(r.number("replications")),
            seed=int(r.number("seed")),
            interval=(float(interval["low"]), float(interval["high"])),
            horizon=r.number("horizon"),
            phases=tuple((str(p["name"]), float(p["start"]), float(p["end"])) for p in r.get("phases", list)),
            metrics=metrics,
            run_metrics=run_metrics,
            errors=_nested_estimates(r.sub("errors")),
            fallback_reasons=_nested_estimates(r.sub("fallbackReasons")),
            series=series,
            latency_sketches={
                phase: np.array([math.nan if v is None else float(v) for v in sketch.get(phase, list)])
                for phase in sketch.data
                if phase != "levels"
            },
        )


@dataclass(frozen=True)
class ForecastSummary:
    """A forecast as recorded: the experiment it is about, the filled hypothesis, the criteria's odds
    and the prediction's estimates."""

    experiment: str
    title: str
    source: str
    statement: str
    filled: str
    blanks: tuple[BlankSummary, ...]
    criteria: tuple[CriterionSummary, ...]
    prediction: PredictionSummary
    alerts: tuple[AlertSummary, ...] = ()
    """Per alerting rule (empty: the rules were not evaluated)."""
    alert_evaluation: AlertEvaluation | None = None

    def criterion(self, name: str) -> CriterionSummary | None:
        return next((c for c in self.criteria if c.name == name), None)

    def alert(self, name: str) -> AlertSummary | None:
        return next((a for a in self.alerts if a.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schemaVersion": FORECAST_SCHEMA_VERSION,
            "experiment": {"name": self.experiment, "title": self.title, "source": self.source},
            "hypothesis": {
                "statement": self.statement,
                "filled": self.filled,
                "blanks": {b.name: _blank_dict(b) for b in self.blanks},
            },
            "criteria": [_criterion_dict(c, self.prediction.interval) for c in self.criteria],
            **_alerts_dict(self.alerts, self.alert_evaluation),
            "prediction": self.prediction.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "prediction.json") -> ForecastSummary:
        """Read a forecast; ForecastFormatError (naming `where` and the field) if it is not one."""
        r = _Reader(data, where)
        version = r.get("schemaVersion", int)
        if version != FORECAST_SCHEMA_VERSION:
            raise ForecastFormatError(
                f"{where}: schemaVersion={version!r}; this version reads {FORECAST_SCHEMA_VERSION}"
            )
        experiment, hypothesis = r.sub("experiment"), r.sub("hypothesis")
        blanks = hypothesis.sub("blanks")
        return cls(
            experiment=experiment.get("name", str),
            title=experiment.get("title", str),
            source=experiment.get("source", str),
            statement=hypothesis.get("statement", str),
            filled=hypothesis.get("filled", str),
            blanks=tuple(_blank(name, blanks.sub(name)) for name in blanks.data),
            criteria=tuple(
                _criterion(_Reader(c, f"{where}.criteria[{i}]"))
                for i, c in enumerate(r.get("criteria", list))
            ),
            prediction=PredictionSummary.from_dict(r.mapping("prediction"), f"{where}.prediction"),
            alerts=tuple(
                _alert(_Reader(a, f"{where}.alerts[{i}]"))
                for i, a in enumerate(r.get("alerts", list) if "alerts" in r.data else [])
            ),
            alert_evaluation=None
            if "alertEvaluation" not in r.data
            else _evaluation(r.sub("alertEvaluation")),
        )


# -- reading ------------------------------------------------------------------------------------
class _Reader:
    """Typed access to one JSON object, errors naming the file and the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ForecastFormatError(f"{where}: expected an object, got {type(data).__name__}")
        self.data: Mapping[str, Any] = data
        self.where = where

    def get(self, key: str, kind: type | UnionType) -> Any:
        if key not in self.data:
            raise ForecastFormatError(f"{self.where}.{key}: missing")
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            expected = getattr(kind, "__name__", str(kind))
            raise ForecastFormatError(f"{self.where}.{key}={value!r}: expected {expected}")
        return value

    def optional(self, key: str, kind: type | UnionType) -> Any:
        return None if self.data.get(key) is None else self.get(key, kind)

    def number(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ForecastFormatError(f"{self.where}.{key}={value!r}: expected a number")
        return float(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value: Mapping[str, Any] = self.get(key, Mapping)
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.get(key, Mapping), f"{self.where}.{key}")

    def estimate(self) -> Estimate:
        def bound(key: str) -> float | None:
            value = self.optional(key, float | int)
            return None if value is None else float(value)

        return Estimate(bound("point"), bound("low"), bound("high"), int(self.number("count")))


def _blank(name: str, r: _Reader) -> BlankSummary:
    value = r.optional("value", float | int)
    return BlankSummary(
        name=name,
        metric=r.get("metric", str),
        phase=r.optional("phase", str),
        relative_to=r.optional("relativeTo", str),
        unit=r.get("unit", str),
        bound=r.get("bound", str),
        value=None if value is None else float(value),
        text=r.get("text", str),
        estimate=r.estimate(),
    )


def _criterion(r: _Reader) -> CriterionSummary:
    predicted = r.data.get("predicted")
    probability = r.optional("probability", float | int)
    threshold = r.optional("threshold", float | int)
    return CriterionSummary(
        name=r.get("name", str),
        type=r.get("type", str),
        description=r.get("description", str),
        predicted=None if predicted is None else r.sub("predicted").estimate(),
        probability=None if probability is None else float(probability),
        note=r.optional("note", str) or "",
        metric=r.optional("metric", str),
        phase=r.optional("phase", str),
        op=r.optional("op", str),
        threshold=None if threshold is None else float(threshold),
    )


def _alert(r: _Reader) -> AlertSummary:
    probability = r.optional("probability", float | int)
    first, duration = r.data.get("firstFire"), r.data.get("duration")
    return AlertSummary(
        name=r.get("name", str),
        probability=None if probability is None else float(probability),
        first_fire=None if first is None else r.sub("firstFire").estimate(),
        duration=None if duration is None else r.sub("duration").estimate(),
        note=r.optional("note", str) or "",
    )


def _evaluation(r: _Reader) -> AlertEvaluation:
    return AlertEvaluation(
        rules=r.get("rules", str),
        scrape_interval=r.number("scrapeInterval"),
        evaluation_interval=r.number("evaluationInterval"),
        since=r.number("since"),
    )


def _band(time: list[float], r: _Reader) -> Band:
    def column(key: str) -> np.ndarray:
        return np.array([math.nan if v is None else float(v) for v in r.get(key, list)], dtype=float)

    return Band(np.asarray(time, dtype=float), column("mean"), column("low"), column("high"))


def _nested_estimates(r: _Reader) -> dict[str, dict[str, Estimate]]:
    return {phase: {k: r.sub(phase).sub(k).estimate() for k in r.sub(phase).data} for phase in r.data}


# -- writing ------------------------------------------------------------------------------------
def _floats(values: np.ndarray) -> list[float | None]:
    return [float(x) if math.isfinite(x) else None for x in values]


def _nested_dict(shares: Mapping[str, Mapping[str, Estimate]]) -> dict[str, Any]:
    return {phase: {k: e.to_dict() for k, e in by.items()} for phase, by in shares.items()}


def _blank_dict(b: BlankSummary) -> dict[str, Any]:
    return {
        "metric": b.metric,
        "phase": b.phase,
        "relativeTo": b.relative_to,
        "unit": b.unit,
        "bound": b.bound,
        "value": b.value,
        "text": b.text,
        **b.estimate.to_dict(),
    }


def _criterion_dict(c: CriterionSummary, interval: tuple[float, float]) -> dict[str, Any]:
    data: dict[str, Any] = {"name": c.name, "type": c.type, "description": c.description}
    if c.metric is not None:
        data.update(metric=c.metric, phase=c.phase, op=c.op, threshold=c.threshold)
    data["predicted"] = c.predicted.to_dict() if c.predicted is not None else None
    data["probability"] = c.probability
    data["interval"] = {"low": interval[0], "high": interval[1]}
    if c.note:
        data["note"] = c.note
    return data


def _alerts_dict(alerts: tuple[AlertSummary, ...], evaluation: AlertEvaluation | None) -> dict[str, Any]:
    """The "alerts" and "alertEvaluation" keys; none when the rules were not evaluated."""
    data: dict[str, Any] = {}
    if alerts:
        data["alerts"] = [_alert_dict(a) for a in alerts]
    if evaluation is not None:
        data["alertEvaluation"] = {
            "rules": evaluation.rules,
            "scrapeInterval": evaluation.scrape_interval,
            "evaluationInterval": evaluation.evaluation_interval,
            "since": evaluation.since,
        }
    return data


def _alert_dict(a: AlertSummary) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": a.name,
        "probability": a.probability,
        "firstFire": a.first_fire.to_dict() if a.first_fire is not None else None,
        "duration": a.duration.to_dict() if a.duration is not None else None,
    }
    if a.note:
        data["note"] = a.note
    return data
