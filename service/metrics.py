"""The service's Prometheus metrics, in one registry per pod (so tests can build many pods).

Names and labels are a contract: the alert rules in k8s/alert-rules.yaml and analysis query them,
and service/README.md documents them. Every label value the service can emit is created at start-up
with a zero, so rate() and ratios work before the first event of a kind.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from chaos.metrics import REQUEST_DURATION_BUCKETS
from chaos.model_chaos import FAILURE_TYPES
from service.breaker import BreakerState
from service.schema import FALLBACK_REASONS, FEATURE_SOURCES, STATUSES, outcome_of

PREFIX = "mlservice"
# Request latency: the vocabulary's buckets (the simulator renders its latencies into the same).
REQUEST_BUCKETS = REQUEST_DURATION_BUCKETS
# Feature-store calls: from a quarter of a millisecond (a Redis on loopback) to a few ms across a
# network; the client timeout 100 ms, slow-call threshold 80 ms.
STORE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
    0.15, 0.25, 0.5, 1.0,
)  # fmt: skip
STORE_RESULTS = ("ok", "slow", "not_found", "error", "timeout")
CACHE_RESULTS = ("hit", "miss")
CLASSES = ("0", "1")
BREAKER_TRANSITIONS = (
    (BreakerState.CLOSED, BreakerState.OPEN),
    (BreakerState.OPEN, BreakerState.HALF_OPEN),
    (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    (BreakerState.HALF_OPEN, BreakerState.OPEN),
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """All metrics of one pod."""

    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
        self.requests = Counter(
            f"{PREFIX}_requests",
            "POST /predict requests by outcome (success, invalid, error) and HTTP status code.",
            ["outcome", "code"],
            registry=r,
        )
        self.request_duration = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from receiving a /predict request to answering it, every outcome included.",
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            f"{PREFIX}_requests_in_flight", "/predict requests admitted and not yet answered.", registry=r
        )
        self.queued = Gauge(
            f"{PREFIX}_requests_queued", "Admitted /predict requests waiting for a model slot.", registry=r
        )
        self.concurrency_limit = Gauge(
            f"{PREFIX}_concurrency_limit", "Model slots of this pod (requests served at once).", registry=r
        )
        self.queue_limit = Gauge(
            f"{PREFIX}_queue_limit",
            "Requests that may wait for a slot before the pod answers 503.",
            registry=r,
        )
        self.store_duration = Histogram(
            f"{PREFIX}_feature_store_duration_seconds",
            "Feature-store calls by result (ok, slow, not_found, error, timeout).",
            ["result"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.breaker_state = Gauge(
            f"{PREFIX}_circuit_breaker_state",
            "1 for the feature-store circuit breaker's current state, 0 for the others.",
            ["state"],
            registry=r,
        )
        self.breaker_opened = Gauge(
            f"{PREFIX}_circuit_breaker_opened_timestamp_seconds",
            "Unix time the circuit breaker last opened (0: never since the pod started).",
            registry=r,
        )
        self.breaker_transitions = Counter(
            f"{PREFIX}_circuit_breaker_transitions",
            "Feature-store circuit breaker state changes.",
            ["from_state", "to_state"],
            registry=r,
        )
        self.cache_lookups = Counter(
            f"{PREFIX}_feature_cache_lookups",
            "Feature-cache lookups made because the store could not answer, by result (hit, miss).",
            ["result"],
            registry=r,
        )
        self.cache_entries = Gauge(
            f"{PREFIX}_feature_cache_entries", "Feature vectors in the in-process cache.", registry=r
        )
        self.feature_source = Counter(
            f"{PREFIX}_feature_source",
            "Answered predictions by where their features came from (store, cache, defaults, request).",
            ["source"],
            registry=r,
        )
        self.fallbacks = Counter(
            f"{PREFIX}_fallbacks",
            "Answered predictions that left the nominal path, by the reason that decided the answer.",
            ["reason"],
            registry=r,
        )
        self.chaos_injections = Counter(
            f"{PREFIX}_chaos_injections",
            "Faults injected into the model by in-app chaos.",
            ["type"],
            registry=r,
        )
        self.predictions = Counter(
            f"{PREFIX}_predictions",
            "Answered predictions by predicted class and the model version that produced them.",
            ["class", "model_version"],
            registry=r,
        )
        self.model_info = Gauge(
            f"{PREFIX}_model_info",
            "1 for the primary model version this pod serves.",
            ["version"],
            registry=r,
        )
        self.reference_positive_ratio = Gauge(
            f"{PREFIX}_model_reference_positive_ratio",
            "Share of class 1 in the training labels: the expected share of class-1 predictions.",
            registry=r,
        )
        self.model_switches = Counter(
            f"{PREFIX}_model_switches",
            "Model version switches through the admin endpoint.",
            ["version"],
            registry=r,
        )
        self.ready = Gauge(f"{PREFIX}_ready", "1 when the pod reports ready on /ready.", registry=r)
        self._zeros()
        # The labelled children that every request touches, looked up once: `labels()` takes a lock
        # and validates and joins the label values on every call.
        self._requests_by_status = {s: self.requests.labels(outcome_of(s), str(s)) for s in STATUSES}
        self._store_by_result = {result: self.store_duration.labels(result) for result in STORE_RESULTS}
        self._by_source = {source: self.feature_source.labels(source) for source in FEATURE_SOURCES}
        self._by_reason = {reason: self.fallbacks.labels(reason) for reason in FALLBACK_REASONS}
        self._predictions: dict[tuple[int, str], Counter] = {}

    def _zeros(self) -> None:
        for status in STATUSES:
            self.requests.labels(outcome_of(status), str(status))
        for result in STORE_RESULTS:
            self.store_duration.labels(result)
        for state in BreakerState:
            self.breaker_state.labels(state.value)
        for old, new in BREAKER_TRANSITIONS:
            self.breaker_transitions.labels(old.value, new.value)
        for result in CACHE_RESULTS:
            self.cache_lookups.labels(result)
        for source in FEATURE_SOURCES:
            self.feature_source.labels(source)
        for reason in FALLBACK_REASONS:
            self.fallbacks.labels(reason)
        for failure in FAILURE_TYPES:
            self.chaos_injections.labels(failure)
        self.set_breaker_state(BreakerState.CLOSED)

    def declare_models(self, versions: tuple[str, ...], active: str) -> None:
        for version in versions:
            for cls in CLASSES:
                self.predictions.labels(cls, version)
            self.model_switches.labels(version)
        self.set_model(versions, active)

    def set_model(self, versions: tuple[str, ...], active: str) -> None:
        for version in versions:
            self.model_info.labels(version).set(1 if version == active else 0)

    def set_breaker_state(self, state: BreakerState) -> None:
        for s in BreakerState:
            self.breaker_state.labels(s.value).set(1 if s is state else 0)

    def breaker_transition(self, old: BreakerState, new: BreakerState) -> None:
        self.breaker_transitions.labels(old.value, new.value).inc()
        self.set_breaker_state(new)
        if new is BreakerState.OPEN:
            self.breaker_opened.set_to_current_time()

    def count_request(self, status: int, seconds: float) -> None:
        counter = self._requests_by_status.get(status)
        if counter is None:
            counter = self.requests.labels(outcome_of(status), str(status))
        counter.inc()
        self.request_duration.observe(seconds)

    def observe_store_call(self, result: str, seconds: float) -> None:
        """One feature-store call's duration by result (one of STORE_RESULTS)."""
        self._store_by_result[result].observe(seconds)

    def count_prediction(self, source: str, cls: int, version: str, reason: str | None) -> None:
        """An answered prediction: its feature source, class and model version, and fallback reason."""
        self._by_source[source].inc()
        counter = self._predictions.get((cls, version))
        if counter is None:
            counter = self._predictions[cls, version] = self.predictions.labels(str(cls), version)
        counter.inc()
        if reason is not None:
            self._by_reason[reason].inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
