"""The abort watch: a condition fires after `for` seconds of violation, second by second."""

from __future__ import annotations

from chaos.spec import AbortCondition
from runner.abort import AbortWatch
from runner.load_driver import Record

ORIGIN = 500.0
COLLAPSE = AbortCondition("collapse", "availability", "<", 0.9, sustained=3.0)


def second_of(second: int, failures: int, per_second: int = 10, latency: float = 0.01) -> list[Record]:
    """`per_second` requests sent in `second`, the first `failures` of them failed."""
    return [
        Record(
            ORIGIN + second + k / per_second,
            latency,
            "error" if k < failures else "ok",
            503 if k < failures else 200,
            "http_503" if k < failures else "",
            False,
            False,
            "" if k < failures else "store",
            None,
            "chaos",
        )
        for k in range(per_second)
    ]


def feed(watch: AbortWatch, failures_per_second: list[int]) -> list[float | None]:
    """Feed whole seconds one at a time; the second at which the watch fired, per step."""
    fired = []
    for second, failures in enumerate(failures_per_second):
        watch.add(list(second_of(second, failures)))
        trigger = watch.advance(ORIGIN + second + 1)
        fired.append(trigger.at if trigger else None)
    return fired


def test_a_condition_fires_once_violated_for_its_for_seconds() -> None:
    watch = AbortWatch((COLLAPSE,), ORIGIN)
    assert feed(watch, [0, 5, 5, 5, 5]) == [None, None, None, 4.0, 5.0]  # and on while it holds


def test_a_healthy_second_resets_the_count() -> None:
    watch = AbortWatch((COLLAPSE,), ORIGIN)
    assert feed(watch, [5, 5, 0, 5, 5, 5]) == [None, None, None, None, None, 6.0]


def test_a_second_without_requests_is_no_evidence_and_resets_the_count() -> None:
    watch = AbortWatch((COLLAPSE,), ORIGIN)
    watch.add(second_of(0, 5) + second_of(1, 5) + second_of(3, 5) + second_of(4, 5))
    assert watch.advance(ORIGIN + 5) is None
    watch.add(second_of(5, 5))
    trigger = watch.advance(ORIGIN + 6)
    assert trigger is not None and (trigger.since, trigger.at) == (3.0, 6.0)


def test_for_zero_fires_on_the_first_violated_second_with_its_value() -> None:
    instant = AbortCondition("instant", "availability", "<", 0.9, sustained=0.0)
    watch = AbortWatch((instant,), ORIGIN)
    watch.add(second_of(0, 0) + second_of(1, 3))
    trigger = watch.advance(ORIGIN + 2)
    assert trigger is not None
    assert (trigger.since, trigger.at, trigger.value) == (1.0, 2.0, 0.7)
    assert "instant: availability < 0.9" in trigger.describe()


def test_seconds_before_the_chaos_are_not_watched() -> None:
    watch = AbortWatch((COLLAPSE,), ORIGIN, active_from=3.0)
    assert feed(watch, [5, 5, 5, 5, 5, 5]) == [None, None, None, None, None, 6.0]


def test_an_incomplete_second_is_not_judged() -> None:
    watch = AbortWatch((AbortCondition("x", "availability", "<", 0.9, 0.0),), ORIGIN)
    watch.add(second_of(0, 5))
    assert watch.advance(ORIGIN + 0.99) is None and watch.closed == 0
    trigger = watch.advance(ORIGIN + 1.0)
    assert trigger is not None and (trigger.since, trigger.at, trigger.value) == (0.0, 1.0, 0.5)
    assert watch.closed == 1


def test_latency_and_ready_pod_conditions() -> None:
    slow = AbortCondition("slow", "latency_p95", ">", 1.0, sustained=2.0)
    watch = AbortWatch((slow,), ORIGIN)
    for second in range(3):
        watch.add([*second_of(second, 0, latency=2.0)])
    trigger = watch.advance(ORIGIN + 3)
    assert trigger is not None and trigger.condition is slow and (trigger.since, trigger.at) == (0.0, 2.0)

    few = AbortCondition("few pods", "ready_pods_min", "<", 2, sustained=2.0)
    watch = AbortWatch((few,), ORIGIN)
    for second, ready in enumerate([3, 1, 2, 1, 1]):
        watch.add_ready(ORIGIN + second + 0.5, ready)
    trigger = watch.advance(ORIGIN + 5)
    assert trigger is not None and (trigger.since, trigger.at) == (3.0, 5.0)


def test_the_live_view_covers_the_last_closed_seconds() -> None:
    watch = AbortWatch((), ORIGIN)
    for second, failures in enumerate([10, 10, 0, 0, 0, 0, 0]):
        watch.add(second_of(second, failures))
    watch.advance(ORIGIN + 7)
    assert watch.live()["availability"] == 1.0  # the last five seconds
    watch.add(second_of(7, 5))
    watch.advance(ORIGIN + 8)
    assert watch.live()["availability"] == 45 / 50
