"""The experiment spec: hypothesis, scope, chaos, load, phases, success criteria, aborts, rollback.

This module is the only place that reads experiment YAML; the simulator, the runner and the analysis
take the `Experiment` it returns. `load_experiment` validates the whole document (and the system
profile and Chaos Mesh manifests it refers to) before anything runs and reports every problem with
file, field and value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from chaos.documents import path_problem, read_document
from chaos.durations import parse_duration
from chaos.errors import InvalidSpecError, Problem
from chaos.fields import Fields
from chaos.manifest import ChaosManifest, load_manifest
from chaos.metrics import METRICS, PHASES
from chaos.rollout import Rollout, load_rollout, model_rollout
from chaos.selection import max_count
from chaos.system import API_VERSION, Load, SystemProfile, load_system_profile, parse_load

T = TypeVar("T")
ENVIRONMENTS = ("testbed", "staging", "production")
BOUNDS = ("point", "low", "high")
BLANK_UNITS = ("s", "ms", "percent", "fraction", "pods", "rps")
ROLLBACK_STRATEGIES = ("always", "on-abort")
_BLANK = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
_CRITERION_KINDS = ("metric", "alertsFire", "podsReady", "noManualIntervention")
_COMPARISONS = {"above": ">", "atLeast": ">=", "below": "<", "atMost": "<="}
_PERCENT = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)%")


@dataclass(frozen=True)
class Blank:
    """A named gap in the hypothesis statement and the metric that fills it."""

    name: str
    metric: str
    phase: str | None
    relative_to: str | None = None
    unit: str = "s"
    bound: str = "point"


@dataclass(frozen=True)
class Hypothesis:
    statement: str
    blanks: tuple[Blank, ...]

    def fill(self, values: dict[str, str]) -> str:
        """The statement with each {blank} replaced by its text (unknown blanks stay as they are)."""
        return _BLANK.sub(lambda m: values.get(m.group(1), m.group(0)), self.statement)


@dataclass(frozen=True)
class Scope:
    environment: str
    namespace: str
    selector: dict[str, str]
    max_percent: float = 100.0
    max_pods: int | None = None


Fault = ChaosManifest | Rollout
"""What one chaos step does: a Chaos Mesh manifest, or a rollout of the service's Deployment."""


@dataclass(frozen=True)
class ChaosStep:
    """One fault applied `after` seconds into the chaos phase: a Chaos Mesh manifest, the chaotic
    deployment or a model rollout (chaos.rollout). `path` is the file it came from (the spec itself
    for a model rollout)."""

    manifest: Fault
    path: Path
    after: float = 0.0

    @property
    def end(self) -> float | None:
        """Seconds into the chaos phase when the fault ends by itself (None: at the phase end)."""
        if self.manifest.action in ("pod-kill", "container-kill"):
            return self.after
        return None if self.manifest.duration is None else self.after + self.manifest.duration

    @property
    def rollout(self) -> Rollout | None:
        return self.manifest if isinstance(self.manifest, Rollout) else None

    @property
    def chaos_mesh(self) -> ChaosManifest | None:
        return self.manifest if isinstance(self.manifest, ChaosManifest) else None


@dataclass(frozen=True)
class Phases:
    baseline: float
    chaos: float
    recovery: float

    @property
    def total(self) -> float:
        return self.baseline + self.chaos + self.recovery

    def bounds(self) -> dict[str, tuple[float, float]]:
        """Start and end (seconds from the run start) of each phase."""
        b, c = self.baseline, self.baseline + self.chaos
        return {"baseline": (0.0, b), "chaos": (b, c), "recovery": (c, self.total)}


@dataclass(frozen=True)
class ThresholdCriterion:
    name: str
    metric: str
    phase: str | None
    op: str  # ">", ">=", "<", "<="
    threshold: float

    def holds(self, value: float) -> bool:
        return compare(value, self.op, self.threshold)


@dataclass(frozen=True)
class AlertsCriterion:
    name: str
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class PodsReadyCriterion:
    name: str
    within: float


@dataclass(frozen=True)
class NoManualInterventionCriterion:
    name: str


Criterion = ThresholdCriterion | AlertsCriterion | PodsReadyCriterion | NoManualInterventionCriterion


@dataclass(frozen=True)
class AbortCondition:
    name: str
    metric: str
    op: str
    threshold: float
    sustained: float


@dataclass(frozen=True)
class MetricQuery:
    name: str
    query: str


@dataclass(frozen=True)
class Rollback:
    strategy: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    source: Path
    system: SystemProfile
    hypothesis: Hypothesis
    scope: Scope
    chaos: tuple[ChaosStep, ...]
    load: Load
    phases: Phases
    success_criteria: tuple[Criterion, ...]
    abort_conditions: tuple[AbortCondition, ...]
    metrics: tuple[MetricQuery, ...] = ()
    rollback: Rollback = field(default_factory=lambda: Rollback("always", ()))


def compare(value: float, op: str, threshold: float) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    raise ValueError(f"op={op!r} must be one of >, >=, <, <=")


def is_experiment_file(path: Path) -> bool:
    return path.name.endswith(".experiment.yaml")


def load_experiment(path: Path, system: Path | None = None) -> Experiment:
    """Read and validate an experiment spec with its system profile and manifests; `system`, when
    given, replaces the profile the spec names (`--profile`: a calibrated profile, validated alike)."""
    problems: list[Problem] = []
    experiment = parse_experiment(read_document(path), path, problems, system)
    if problems or experiment is None:
        raise InvalidSpecError(problems)
    return experiment


def parse_experiment(
    data: object, path: Path, problems: list[Problem], system_file: Path | None = None
) -> Experiment | None:
    file = str(path)
    doc = Fields(data, file, "", problems)
    doc.text("apiVersion", choices=(API_VERSION,))
    doc.text("kind", choices=("Experiment",))
    meta = doc.section("metadata")
    name = meta.text("name", pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    title = meta.text("title", default=name)
    meta.finish()
    spec = doc.section("spec")

    named = spec.text("system", default="system.yaml")
    if system_file is None:
        system = _load_referenced(path, named, spec, "system", load_system_profile)
    else:
        system = _load_profile(system_file, problems)
    hypothesis = _hypothesis(spec.section("hypothesis"))
    scope = _scope(spec.section("scope"))
    chaos = tuple(_chaos_steps(spec, path, system))
    load = parse_load(spec.section("load")) if spec.has("load") else (system.load if system else Load())
    if not load.entities and system is not None:  # what the load asks about is the system's, unless stated
        load = replace(load, entities=system.load.entities)
    if not load.pacing_lateness and system is not None:  # so is how its load generator keeps pace
        load = replace(load, pacing_lateness=system.load.pacing_lateness)
    if not load.start_delay and system is not None:
        load = replace(load, start_delay=system.load.start_delay)
    phases = _phases(spec.section("phases"))
    criteria = tuple(_criteria(spec))
    aborts = tuple(_aborts(spec))
    metrics = tuple(_metric_queries(spec))
    rollback = _rollback(spec.section("rollback"))
    spec.finish()
    doc.finish()

    _check_chaos_fits(spec, chaos, phases)
    if system is not None:
        _check_scope(spec, scope, chaos, system)
    if system is None or problems:
        return None
    return Experiment(
        name=name,
        title=title,
        source=path,
        system=system,
        hypothesis=hypothesis,
        scope=scope,
        chaos=chaos,
        load=load,
        phases=phases,
        success_criteria=criteria,
        abort_conditions=aborts,
        metrics=metrics,
        rollback=rollback,
    )


def _load_profile(path: Path, problems: list[Problem]) -> SystemProfile | None:
    """A system profile given instead of the spec's own; its problems become the spec's."""
    try:
        return load_system_profile(path)
    except InvalidSpecError as exc:
        problems.extend(exc.problems)
        return None


def _load_referenced(spec_path: Path, ref: str, f: Fields, key: str, loader: Callable[[Path], T]) -> T | None:
    """Load a file the spec refers to (relative to the spec), folding its problems into ours."""
    if not ref:
        return None
    target = spec_path.parent / ref
    reason = path_problem(target)  # "does not exist", "is a folder, not a file", ...
    if reason:
        f.problem(key, ref, f"names {target}, which {reason}")
        return None
    try:
        return loader(target)
    except InvalidSpecError as exc:
        f.problems.extend(exc.problems)
        return None


def _hypothesis(f: Fields) -> Hypothesis:
    statement = f.text("statement")
    blanks: list[Blank] = []
    section = f.section("blanks", required=False)
    for blank_name in list(section.data):
        b = section.section(str(blank_name))
        metric = b.text("metric", choices=tuple(METRICS))
        phase = _phase_for(b, metric)
        relative = b.text("relativeTo", default=None, choices=PHASES) or None
        unit = b.text("unit", default="s", choices=BLANK_UNITS)
        bound = b.text("bound", default="point", choices=BOUNDS)
        b.finish()
        blanks.append(Blank(str(blank_name), metric, phase, relative, unit, bound))
    section.finish()
    f.finish()
    named = set(_BLANK.findall(statement))
    defined = {b.name for b in blanks}
    for missing in sorted(named - defined):
        f.problem("blanks", missing, f"statement uses {{{missing}}} but blanks does not define it")
    for unused in sorted(defined - named):
        f.problem(f"blanks.{unused}", unused, "is defined but the statement never uses it")
    return Hypothesis(statement, tuple(blanks))


def _scope(f: Fields) -> Scope:
    environment = f.text("environment", choices=ENVIRONMENTS)
    namespace = f.text("namespace")
    selector = f.string_map("selector")
    radius = f.section("blastRadius", required=False)
    max_percent = radius.number("maxPercent", default=100.0, above=0.0, maximum=100.0)
    max_pods = radius.integer("maxPods", default=None, minimum=1) if radius.has("maxPods") else None
    radius.finish()
    f.finish()
    return Scope(environment, namespace, selector, max_percent, max_pods)


_STEP_KINDS = ("manifest", "rollout", "modelRollout")


def _chaos_steps(spec: Fields, path: Path, system: SystemProfile | None) -> list[ChaosStep]:
    steps: list[ChaosStep] = []
    for item in spec.items("chaos"):
        kinds = [k for k in _STEP_KINDS if item.has(k)]
        after = item.duration("after", default="0s")
        if len(kinds) != 1:
            item.consume(*_STEP_KINDS, "duration")
            item.finish()
            item.problem("", sorted(kinds), f"needs exactly one of {', '.join(_STEP_KINDS)}")
            continue
        kind = kinds[0]
        if kind == "manifest":
            ref = item.text("manifest")
            item.finish()
            manifest = _load_referenced(path, ref, item, "manifest", load_manifest)
            if manifest is not None:
                steps.append(ChaosStep(manifest, path.parent / ref, after))
            continue
        duration = item.duration("duration", positive=True) if item.has("duration") else None
        if system is None:  # its problems are reported already; a rollout is read against it
            item.consume(kind)
            item.finish()
            continue
        if kind == "rollout":
            ref = item.text("rollout")
            item.finish()
            loaded = _load_referenced(path, ref, item, "rollout", partial(_rollout_file, system, duration))
            if loaded is not None:
                steps.append(ChaosStep(loaded, path.parent / ref, after))
        else:
            rollout = model_rollout(item.section("modelRollout"), system, str(path), duration)
            item.finish()
            steps.append(ChaosStep(rollout, path, after))
    if spec.has("chaos") and isinstance(spec.data.get("chaos"), list) and not spec.data["chaos"]:
        spec.problem("chaos", [], "must list at least one manifest")
    if sum(1 for s in steps if s.rollout is not None) > 1:
        spec.problem("chaos", [s.path.name for s in steps if s.rollout], "may hold one rollout step at most")
    return steps


def _rollout_file(system: SystemProfile, duration: float | None, path: Path) -> Rollout:
    return load_rollout(path, system, duration)


def _phases(f: Fields) -> Phases:
    phases = Phases(
        baseline=f.duration("baseline", positive=True),
        chaos=f.duration("chaos", positive=True),
        recovery=f.duration("recovery", positive=True),
    )
    f.finish()
    return phases


def _threshold(f: Fields, metric: str) -> tuple[str, float]:
    """The one comparison key (above/atLeast/below/atMost) and its value in the metric's unit."""
    present = [k for k in _COMPARISONS if f.has(k)]
    f.consume(*_COMPARISONS)
    if len(present) != 1:
        f.problem("", sorted(present), "needs exactly one of above, atLeast, below, atMost")
        return ">", 0.0
    key = present[0]
    raw = f.data[key]
    value = metric_value(raw, metric)
    if value is None and metric in METRICS:
        unit = METRICS[metric].unit
        f.problem(key, raw, f"is not a value for metric {metric} (unit {unit}: e.g. 0.99, '99%', '300ms')")
    return _COMPARISONS[key], value or 0.0


def metric_value(raw: object, metric: str) -> float | None:
    """A threshold in the metric's unit: numbers as is, '99%' for fractions, '300ms' for seconds."""
    info = METRICS.get(metric)
    if info is None:
        return None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:  # an integer beyond any float
            return None
    elif isinstance(raw, str) and info.unit == "fraction" and _PERCENT.fullmatch(raw):
        value = float(raw[:-1]) / 100
    elif isinstance(raw, str) and info.unit == "seconds":
        try:
            value = parse_duration(raw)
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(value) or (info.unit == "fraction" and not 0 <= value <= 1):
        return None
    return value if value >= 0 else None


def _criteria(spec: Fields) -> list[Criterion]:
    criteria: list[Criterion] = []
    names: set[str] = set()
    for item in spec.items("successCriteria"):
        name = item.text("name")
        if name in names:
            item.problem("name", name, "is used by another criterion")
        names.add(name)
        kinds = [k for k in _CRITERION_KINDS if item.has(k)]
        if len(kinds) != 1:
            item.problem("", sorted(kinds), f"needs exactly one of {', '.join(_CRITERION_KINDS)}")
            continue
        kind = kinds[0]
        criterion: Criterion
        if kind == "metric":
            metric = item.text("metric", choices=tuple(METRICS))
            phase = _phase_for(item, metric)
            op, threshold = _threshold(item, metric)
            criterion = ThresholdCriterion(name, metric, phase, op, threshold)
        elif kind == "alertsFire":
            alerts = item.strings("alertsFire")
            if not alerts:
                item.problem("alertsFire", [], "must name at least one alert")
            criterion = AlertsCriterion(name, tuple(alerts))
        elif kind == "podsReady":
            ready = item.section("podsReady")
            criterion = PodsReadyCriterion(name, ready.duration("within", positive=True))
            ready.finish()
        else:
            if item.boolean("noManualIntervention") is not True:
                item.problem("noManualIntervention", item.data.get(kind), "must be true when present")
            criterion = NoManualInterventionCriterion(name)
        item.finish()
        criteria.append(criterion)
    return criteria


def _phase_for(item: Fields, metric: str) -> str | None:
    phase = item.text("phase", default=None, choices=PHASES) or None
    info = METRICS.get(metric)
    if info and info.phased and phase is None:
        item.problem("phase", None, f"is required for metric {metric} (one of {', '.join(PHASES)})")
    if info and not info.phased and phase is not None:
        item.problem("phase", phase, f"metric {metric} has no phase")
    return phase


def _aborts(spec: Fields) -> list[AbortCondition]:
    aborts: list[AbortCondition] = []
    for item in spec.items("abortConditions", default=None):
        name = item.text("name")
        metric = item.text("metric", choices=tuple(METRICS))
        if metric in METRICS and not METRICS[metric].phased:
            item.problem("metric", metric, "cannot be watched live; use a per-request metric")
        op, threshold = _threshold(item, metric)
        sustained = item.duration("for", default="0s")
        item.finish()
        aborts.append(AbortCondition(name, metric, op, threshold, sustained))
    return aborts


def _metric_queries(spec: Fields) -> list[MetricQuery]:
    queries: list[MetricQuery] = []
    for item in spec.items("metrics", default=None):
        queries.append(MetricQuery(item.text("name"), item.text("query")))
        item.finish()
    return queries


def _rollback(f: Fields) -> Rollback:
    rollback = Rollback(
        strategy=f.text("strategy", default="always", choices=ROLLBACK_STRATEGIES),
        steps=tuple(f.strings("steps")),
    )
    f.finish()
    return rollback


def _check_chaos_fits(spec: Fields, chaos: tuple[ChaosStep, ...], phases: Phases) -> None:
    for index, step in enumerate(chaos):
        end = step.end
        if step.after >= phases.chaos > 0:
            where = f"chaos[{index}].after"
            spec.problem(where, step.after, f"must be inside the chaos phase ({phases.chaos:g} s)")
        elif end is not None and end > phases.chaos > 0:
            spec.problem(
                f"chaos[{index}].manifest",
                str(step.path.name),
                f"lasts until {end:g} s but the chaos phase is {phases.chaos:g} s; lengthen phases.chaos",
            )


def _check_scope(spec: Fields, scope: Scope, chaos: tuple[ChaosStep, ...], system: SystemProfile) -> None:
    """Blast-radius guard: every manifest stays in the allowed namespace and under the pod limit."""
    replicas = system.service.replicas
    limit = replicas * scope.max_percent / 100
    if scope.max_pods is not None:
        limit = min(limit, scope.max_pods)
    for index, step in enumerate(chaos):
        m = step.manifest
        outside = [ns for ns in m.selector.namespaces if ns != scope.namespace]
        if isinstance(m, Rollout):  # a rolling update replaces every pod
            if outside:
                spec.problem(
                    f"chaos[{index}]", m.namespace, f"rolls out outside scope.namespace {scope.namespace!r}"
                )
            elif replicas > limit:
                spec.problem(
                    f"chaos[{index}]",
                    m.action,
                    f"replaces all {replicas} pods, above scope.blastRadius ({limit:g} pods)",
                )
            continue
        if outside or not m.selector.namespaces:
            spec.problem(
                f"chaos[{index}].manifest",
                step.path.name,
                f"selects namespaces {list(m.selector.namespaces)}, not scope.namespace {scope.namespace!r}",
            )
        if m.is_pod_chaos and m.selector.label_selectors == scope.selector:
            hit = max_count(m.mode, m.value, replicas)
            if hit > limit:
                spec.problem(
                    f"chaos[{index}].manifest",
                    step.path.name,
                    f"may hit {hit} of {replicas} pods, above scope.blastRadius ({limit:g} pods)",
                )
