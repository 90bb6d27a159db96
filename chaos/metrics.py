"""The metric vocabulary shared by the spec, the simulator, the runner and the analysis.

One name means one thing everywhere: a prediction, an observation and a success criterion about
`latency_p95` in phase `chaos` all talk about the 95th percentile of request latency (seconds) over
the requests that phase sent.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("baseline", "chaos", "recovery")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    unit: str  # "fraction" | "seconds" | "pods" | "rps"
    phased: bool
    description: str


_ALL = (
    MetricInfo("availability", "fraction", True, "share of requests answered successfully (2xx)"),
    MetricInfo("error_rate", "fraction", True, "share of requests that failed (1 - availability)"),
    MetricInfo("latency_p50", "seconds", True, "median latency of successful requests"),
    MetricInfo("latency_p95", "seconds", True, "95th percentile latency of successful requests"),
    MetricInfo("latency_p99", "seconds", True, "99th percentile latency of successful requests"),
    MetricInfo("cache_share", "fraction", True, "share of requests answered with cached features"),
    MetricInfo("fallback_share", "fraction", True, "share of requests answered degraded (cache or fallback)"),
    MetricInfo("wrong_rate", "fraction", True, "share of successful answers that were wrong"),
    MetricInfo("throughput", "rps", True, "successful requests per second"),
    MetricInfo("ready_pods_min", "pods", True, "fewest pods ready at any moment"),
    MetricInfo("breaker_first_trip", "seconds", False, "seconds from fault start to the first breaker trip"),
    MetricInfo("recovery_time", "seconds", False, "seconds from fault end until back to steady state"),
)

METRICS: dict[str, MetricInfo] = {m.name: m for m in _ALL}
PHASED_METRICS: tuple[str, ...] = tuple(m.name for m in _ALL if m.phased)
FRACTIONS: tuple[str, ...] = tuple(m.name for m in _ALL if m.unit == "fraction")
"""The metrics that are shares of requests (a count over a count: Wilson intervals, percent)."""

# Per-second series, predicted (sim) and observed (a run) alike.
SERIES = (
    "requests",
    "availability",
    "error_rate",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "cache_share",
    "fallback_share",
    "throughput",
    "ready_pods",
)

# The request-duration histogram the service exports (mlservice_request_duration_seconds): dense
# between 100 ms and 500 ms so histogram_quantile resolves a p95 near the 300 ms SLO to within 25 ms;
# coarser outside. The simulator renders its latencies into the same buckets for the alert rules.
REQUEST_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.275, 0.3,
    0.325, 0.35, 0.4, 0.45, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0,
)  # fmt: skip
