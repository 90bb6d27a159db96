"""The system profile: the service under test described once (experiments/system.yaml).

The testbed starts from it, the Kubernetes manifests agree with it, the simulator models it and
calibration refines it. Field names follow Kubernetes conventions (camelCase, Go durations).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from chaos.calibration import Calibration, ParameterSet, parse_calibration
from chaos.distributions import DISTRIBUTIONS as DISTRIBUTIONS
from chaos.distributions import Distribution as Distribution
from chaos.distributions import parse_distribution as parse_distribution
from chaos.documents import read_document
from chaos.errors import InvalidSpecError, Problem
from chaos.fields import Fields
from chaos.manifest import NETWORK_ACTIONS, POD_ACTIONS

API_VERSION = "chaoslab.dev/v1alpha1"
ARRIVALS = ("closed", "poisson")
MAX_USERS = 1_000_000
"""Most load users: far beyond what a Locust cluster runs, and the simulator keeps state per user."""


@dataclass(frozen=True)
class Probe:
    """A Kubernetes probe's timing (also HAProxy's check inter/fall/rise on the testbed)."""

    period: float = 2.0
    failure_threshold: int = 3
    success_threshold: int = 1
    timeout: float = 1.0

    @property
    def detection_time(self) -> float:
        """Worst-case time from a pod going bad to it being taken out: period x failureThreshold."""
        return self.period * self.failure_threshold


@dataclass(frozen=True)
class RolloutStrategy:
    """The Deployment's RollingUpdate strategy: how many pods above `replicas` a rolling update may
    create (`maxSurge`) and how many below it may be unavailable (`maxUnavailable`), each a count or
    a percentage of `replicas` (surge rounds up, unavailable rounds down, as Kubernetes does)."""

    max_surge: str = "25%"
    max_unavailable: str = "0"

    def surge(self, replicas: int) -> int:
        return _pods_of(self.max_surge, replicas, math.ceil)

    def unavailable(self, replicas: int) -> int:
        return _pods_of(self.max_unavailable, replicas, math.floor)


def _pods_of(value: str, replicas: int, rounding: Callable[[float], int]) -> int:
    if value.endswith("%"):
        return int(rounding(replicas * float(value[:-1]) / 100))
    return int(value)


@dataclass(frozen=True)
class Service:
    name: str = "ml-prediction-service"
    namespace: str = "ml-services"
    labels: dict[str, str] = field(default_factory=lambda: {"app": "ml-prediction-service"})
    replicas: int = 10
    concurrency: int = 2
    max_queue: int = 64
    service_time: Distribution = field(default_factory=lambda: Distribution("lognormal", 0.03, 0.3))
    request_timeout: float = 1.0
    strategy: RolloutStrategy = field(default_factory=RolloutStrategy)


@dataclass(frozen=True)
class Lifecycle:
    """Pod life: scheduling after a delete, process start-up, kubelet restart back-off."""

    schedule_delay: float = 1.0
    startup_time: float = 4.0
    restart_backoff: float = 10.0
    restart_backoff_max: float = 300.0


@dataclass(frozen=True)
class FeatureStore:
    name: str = "feature-store"
    labels: dict[str, str] = field(default_factory=lambda: {"app": "feature-store"})
    latency: Distribution = field(default_factory=lambda: Distribution("lognormal", 0.003, 0.5))
    timeout: float = 0.1


@dataclass(frozen=True)
class CircuitBreaker:
    """Closed -> open after `failure_threshold` consecutive failed or slow calls; half-open after reset."""

    failure_threshold: int = 5
    slow_call: float = 0.08
    reset_timeout: float = 30.0
    half_open_successes: int = 1


@dataclass(frozen=True)
class Cache:
    ttl: float = 300.0
    max_entries: int = 10_000
    hit_rate: float = 0.8


@dataclass(frozen=True)
class ClassOne:
    """Share of class-1 answers over the served entities: of the training labels (`reference`, what
    the service exports as mlservice_model_reference_positive_ratio), of the default version's
    primary model, and of each other version's (`python -m service train` measures them)."""

    reference: float
    primary: float
    versions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelQuality:
    """Share of wrong answers over the entities the service is asked about, per way of answering
    (`python -m service train` measures them). Zero everywhere (the default) counts only the wrong
    answers model chaos injects."""

    primary: float = 0.0
    """The primary model on the entity's own features (fresh or cached)."""
    fallback_model: float = 0.0
    """The fallback model on the entity's own features (the primary model raised or hung)."""
    default_features: float = 0.0
    """The fallback model on default features (neither the store nor the cache had them)."""
    versions: dict[str, float] = field(default_factory=dict)
    """The primary model's share of wrong answers per other model version a rollout may serve
    (`primary` is the default version's)."""
    class_one: ClassOne | None = None
    """Shares of class-1 answers (what the prediction-shift alert watches); None: not stated."""

    def primary_of(self, version: str | None) -> float:
        """The wrong share of the primary model of `version` (None: the default version)."""
        return self.primary if version is None else self.versions[version]


@dataclass(frozen=True)
class ModelChaos:
    enabled: bool = False
    exception_rate: float = 0.05
    timeout_rate: float = 0.02
    wrong_prediction_rate: float = 0.01
    model_deadline: float = 0.2

    @property
    def total_rate(self) -> float:
        return self.exception_rate + self.timeout_rate + self.wrong_prediction_rate


@dataclass(frozen=True)
class Client:
    timeout: float = 2.0
    retries: int = 0


@dataclass(frozen=True)
class Load:
    rps: float = 200.0
    users: int = 40
    arrival: str = "closed"
    entities: int = 0
    """Distinct entities the load asks about, each as likely; 0: not stated (the simulator then uses
    `cache.hitRate` instead of following each pod's cache)."""
    pacing_lateness: float = 0.0
    """Seconds a closed-loop user starts each request later than its pacing asks (the load
    generator's timer and scheduling lag, which adds up: each period counts from the last start);
    0: exact pacing. `sim calibrate` measures it from a baseline's request rate."""
    start_delay: float = 0.0
    """Seconds from the run's start to the load generator's users being started (no request is sent
    before; a closed-loop user then waits for its next grid point). `sim calibrate` reads it off a
    baseline's first requests."""


@dataclass(frozen=True)
class FaultTiming:
    """How long after the runner applies a fault it acts, and after the runner deletes it it stops:
    the chaos tooling's own lag (on the testbed its API and the fault proxy; on a cluster Chaos
    Mesh's controller and daemon). Requests in between still see the system as it was."""

    apply_delay: float = 0.0
    remove_delay: float = 0.0
    remove_delays: dict[str, float] = field(default_factory=dict)
    """`removeDelay` for one Chaos Mesh action where it differs (a pod-failure's removal restarts
    containers, a network fault's only drops rules)."""

    def remove_delay_of(self, action: str) -> float:
        """How long after its deletion a fault of `action` stops."""
        return self.remove_delays.get(action, self.remove_delay)


@dataclass(frozen=True)
class Variation:
    """Run-to-run variation: what differs between two runs of the same experiment on the same system
    that the simulator's own randomness does not produce. Each Monte Carlo replication stands for
    one run and draws its own values, so a prediction interval holds this spread too."""

    speed: float = 0.0
    """Spread of the per-run speed of the pods and of the path to them: sigma of the natural log of a
    factor (median 1) that scales `serviceTime` and `requestOverhead` for a whole run, the way a
    shared machine, CPU frequency and neighbours make one run slower than the next. 0: none.
    `benchmarks/run_to_run.py` measures it from repeated runs."""
    fault_lag: float = 0.0
    """Spread of the chaos tooling's lag between runs: sigma of the natural log of a factor (median
    1) on `faultTiming.applyDelay` for a whole run; its faults act (and stop) that much earlier or
    later, never before their step. 0: the lag is the same in every run."""

    overhead: float = 0.0
    """Spread of `requestOverhead` between the machines (or clusters) an uncalibrated profile may be
    run on: sigma of the natural log of a factor (median 1) on the overhead alone, for a whole run,
    on top of `speed`. An a-priori profile's overhead was measured on some machine; the next run may
    be on another, where HTTP, the load balancer and the client cost more or less. A calibrated
    profile measured its own system's overhead, so it is not applied to one (its bootstrap sets hold
    what it does not know). 0: the overhead is the same wherever the profile is used."""

    def factor(self, z: float) -> float:
        """The speed factor for a standard normal draw `z`."""
        return math.exp(self.speed * z)

    def overhead_factor(self, z: float) -> float:
        """The overhead factor for a standard normal draw `z`."""
        return math.exp(self.overhead * z)

    def lag_factor(self, z: float) -> float:
        """The fault-lag factor for a standard normal draw `z`."""
        return math.exp(self.fault_lag * z)


@dataclass(frozen=True)
class SystemProfile:
    service: Service = field(default_factory=Service)
    readiness: Probe = field(default_factory=Probe)
    liveness: Probe = field(default_factory=lambda: Probe(period=10.0, failure_threshold=3))
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    feature_store: FeatureStore = field(default_factory=FeatureStore)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    cache: Cache = field(default_factory=Cache)
    model_chaos: ModelChaos = field(default_factory=ModelChaos)
    model_quality: ModelQuality = field(default_factory=ModelQuality)
    client: Client = field(default_factory=Client)
    load: Load = field(default_factory=Load)
    fault_timing: FaultTiming = field(default_factory=FaultTiming)
    request_overhead: Distribution | None = None
    """Time spent outside the pod on every answer (HTTP, the load balancer, the client's own
    process): the simulator adds one draw to each attempt's latency as the client sees it, and the
    client's timeout counts it. None (the default): nothing is added."""
    calibration: Calibration | None = None
    """Where calibrated values came from, and the bootstrap parameter sets (chaos/calibration.py)."""
    variation: Variation = field(default_factory=Variation)
    source: str = ""

    def with_load(self, load: Load) -> SystemProfile:
        return replace(self, load=load)

    @property
    def parameter_sets(self) -> tuple[ParameterSet, ...]:
        """The calibration's bootstrap parameter sets (none for an uncalibrated profile)."""
        return self.calibration.parameter_sets if self.calibration is not None else ()

    def with_parameters(self, parameters: ParameterSet) -> SystemProfile:
        """This profile with one parameter set's service time, store latency and request overhead."""
        return replace(
            self,
            service=replace(self.service, service_time=parameters.service_time),
            feature_store=replace(self.feature_store, latency=parameters.store_latency),
            request_overhead=parameters.request_overhead,
        )

    def with_overhead_factor(self, factor: float) -> SystemProfile:
        """This profile with request overhead `factor` times as long (cv kept; none stays none)."""
        overhead = self.request_overhead
        return replace(self, request_overhead=None if overhead is None else _scaled(overhead, factor))

    def with_speed(self, factor: float) -> SystemProfile:
        """This profile with service time and request overhead `factor` times as long (cv kept)."""
        slower = self.with_overhead_factor(factor)
        return replace(
            slower, service=replace(self.service, service_time=_scaled(self.service.service_time, factor))
        )


def _scaled(d: Distribution, factor: float) -> Distribution:
    return Distribution(d.kind, d.mean * factor, d.cv)


def load_system_profile(path: Path) -> SystemProfile:
    """Read and validate a system profile; raises InvalidSpecError listing every problem."""
    problems: list[Problem] = []
    profile = parse_system_profile(read_document(path), str(path), problems)
    if problems:
        raise InvalidSpecError(problems)
    return profile


def parse_system_profile(data: object, file: str, problems: list[Problem]) -> SystemProfile:
    doc = Fields(data, file, "", problems)
    doc.text("apiVersion", choices=(API_VERSION,))
    doc.text("kind", choices=("SystemProfile",))
    meta = doc.section("metadata")
    meta.text("name")
    meta.finish()
    spec = doc.section("spec")
    profile = SystemProfile(
        service=_service(spec.section("service")),
        readiness=_probe(spec.section("readinessProbe")),
        liveness=_probe(spec.section("livenessProbe")),
        lifecycle=_lifecycle(spec.section("lifecycle")),
        feature_store=_feature_store(spec.section("featureStore")),
        breaker=_breaker(spec.section("circuitBreaker")),
        cache=_cache(spec.section("cache")),
        model_chaos=_model_chaos(spec.section("modelChaos")),
        model_quality=_model_quality(spec.section("modelQuality", required=False)),
        client=_client(spec.section("client")),
        load=parse_load(spec.section("load")),
        fault_timing=(
            _fault_timing(spec.section("faultTiming")) if spec.has("faultTiming") else FaultTiming()
        ),
        request_overhead=(
            parse_distribution(spec.section("requestOverhead")) if spec.has("requestOverhead") else None
        ),
        calibration=parse_calibration(spec.section("calibration")) if spec.has("calibration") else None,
        variation=_variation(spec.section("variation")) if spec.has("variation") else Variation(),
        source=file,
    )
    spec.finish()
    doc.finish()
    return profile


def _service(f: Fields) -> Service:
    s = Service(
        name=f.text("name"),
        namespace=f.text("namespace"),
        labels=f.string_map("labels"),
        replicas=f.integer("replicas", minimum=1, maximum=1000),
        concurrency=f.integer("concurrency", minimum=1, maximum=1000),
        max_queue=f.integer("maxQueue", minimum=0),
        service_time=parse_distribution(f.section("serviceTime")),
        request_timeout=f.duration("requestTimeout", positive=True),
        strategy=_strategy(f.section("strategy", required=False)),
    )
    f.finish()
    if s.strategy.surge(s.replicas) == 0 and s.strategy.unavailable(s.replicas) == 0:
        f.problem(
            "strategy",
            f"maxSurge {s.strategy.max_surge}, maxUnavailable {s.strategy.max_unavailable}",
            "lets a rolling update neither add nor take away a pod; one of them must be above 0",
        )
    return s


_INT_OR_PERCENT = re.compile(r"[0-9]+%?")


def _strategy(f: Fields) -> RolloutStrategy:
    """`maxSurge` / `maxUnavailable` as the Deployment writes them: a whole number or 'N%'."""
    values: dict[str, str] = {}
    for key, default in (("maxSurge", "25%"), ("maxUnavailable", "0")):
        raw = f.data.get(key, default)
        f.consume(key)
        text = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        if not _INT_OR_PERCENT.fullmatch(text) or (text.endswith("%") and int(text[:-1]) > 100):
            f.problem(key, raw, "must be a whole number of pods or a percentage such as '25%'")
            text = default
        values[key] = text
    f.finish()
    return RolloutStrategy(values["maxSurge"], values["maxUnavailable"])


def _probe(f: Fields) -> Probe:
    p = Probe(
        # HAProxy checks at most every millisecond; the simulator plays every check
        period=f.duration("period", positive=True, minimum=0.001),
        failure_threshold=f.integer("failureThreshold", minimum=1),
        success_threshold=f.integer("successThreshold", default=1, minimum=1),
        timeout=f.duration("timeout", default="1s", positive=True),
    )
    f.finish()
    return p


def _lifecycle(f: Fields) -> Lifecycle:
    life = Lifecycle(
        schedule_delay=f.duration("scheduleDelay"),
        startup_time=f.duration("startupTime"),
        restart_backoff=f.duration("restartBackoff"),
        restart_backoff_max=f.duration("restartBackoffMax", default="5m"),
    )
    f.finish()
    if life.restart_backoff_max < life.restart_backoff:
        f.problem("restartBackoffMax", life.restart_backoff_max, "must be >= restartBackoff")
    return life


def _feature_store(f: Fields) -> FeatureStore:
    store = FeatureStore(
        name=f.text("name"),
        labels=f.string_map("labels"),
        latency=parse_distribution(f.section("latency")),
        timeout=f.duration("timeout", positive=True),
    )
    f.finish()
    return store


def _breaker(f: Fields) -> CircuitBreaker:
    b = CircuitBreaker(
        failure_threshold=f.integer("failureThreshold", minimum=1),
        slow_call=f.duration("slowCallDuration", positive=True),
        reset_timeout=f.duration("resetTimeout", positive=True),
        half_open_successes=f.integer("halfOpenSuccesses", default=1, minimum=1),
    )
    f.finish()
    return b


def _cache(f: Fields) -> Cache:
    c = Cache(
        ttl=f.duration("ttl", positive=True),
        max_entries=f.integer("maxEntries", minimum=1),
        hit_rate=f.fraction("hitRate"),
    )
    f.finish()
    return c


def _model_chaos(f: Fields) -> ModelChaos:
    m = ModelChaos(
        enabled=f.boolean("enabled", default=False),
        exception_rate=f.fraction("exceptionRate"),
        timeout_rate=f.fraction("timeoutRate"),
        wrong_prediction_rate=f.fraction("wrongPredictionRate"),
        model_deadline=f.duration("modelDeadline", positive=True),
    )
    f.finish()
    if m.total_rate > 1:
        f.problem("", m.total_rate, "exceptionRate + timeoutRate + wrongPredictionRate must be <= 1")
    return m


def _model_quality(f: Fields) -> ModelQuality:
    q = ModelQuality(
        primary=f.fraction("primary", default=0.0),
        fallback_model=f.fraction("fallbackModel", default=0.0),
        default_features=f.fraction("defaultFeatures", default=0.0),
        versions=_versions(f.section("versions", required=False)),
        class_one=_class_one(f.section("classOne")) if f.has("classOne") else None,
    )
    f.finish()
    if q.class_one is not None:
        for version in sorted(set(q.versions) - set(q.class_one.versions)):
            f.problem("classOne.versions", version, "has no class-1 share, but versions names it")
    return q


def _class_one(f: Fields) -> ClassOne:
    c = ClassOne(
        reference=f.fraction("reference"),
        primary=f.fraction("primary"),
        versions=_versions(f.section("versions", required=False)),
    )
    f.finish()
    return c


def _versions(f: Fields) -> dict[str, float]:
    versions = {str(name): f.fraction(str(name)) for name in list(f.data)}
    f.finish()
    return versions


def _fault_timing(f: Fields) -> FaultTiming:
    t = FaultTiming(
        apply_delay=f.duration("applyDelay", default=0.0),
        remove_delay=f.duration("removeDelay", default=0.0),
        remove_delays=_remove_delays(f.section("removeDelays", required=False)),
    )
    f.finish()
    return t


def _remove_delays(f: Fields) -> dict[str, float]:
    known = (*POD_ACTIONS, *NETWORK_ACTIONS)
    delays: dict[str, float] = {}
    for action in map(str, list(f.data)):
        if action not in known:
            f.problem(action, f.data[action], f"must be one of {', '.join(known)}")
            f.consume(action)
            continue
        delays[action] = f.duration(action)
    f.finish()
    return delays


def _variation(f: Fields) -> Variation:
    v = Variation(
        speed=f.number("speed", default=0.0, minimum=0.0, maximum=1.0),
        fault_lag=f.number("faultLag", default=0.0, minimum=0.0, maximum=3.0),
        overhead=f.number("overhead", default=0.0, minimum=0.0, maximum=3.0),
    )
    f.finish()
    return v


def _client(f: Fields) -> Client:
    c = Client(
        timeout=f.duration("timeout", positive=True), retries=f.integer("retries", default=0, minimum=0)
    )
    f.finish()
    return c


def parse_load(f: Fields) -> Load:
    """Offered load: requests/s, number of users, and how arrivals are made."""
    load = Load(
        rps=f.number("rps", above=0.0),
        users=f.integer("users", minimum=1, maximum=MAX_USERS),
        arrival=f.text("arrival", default="closed", choices=ARRIVALS),
        entities=f.integer("entities", default=0, minimum=0),
        pacing_lateness=f.duration("pacingLateness", default=0.0),
        start_delay=f.duration("startDelay", default=0.0),
    )
    f.finish()
    return load
