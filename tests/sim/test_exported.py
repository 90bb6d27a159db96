"""What the pods would have counted: answers by the second they left, their duration buckets."""

from __future__ import annotations

import numpy as np

from chaos.metrics import REQUEST_DURATION_BUCKETS
from service.metrics import REQUEST_BUCKETS
from sim import outcomes as oc
from sim.exported import exported_counts
from sim.timeline import Timeline
from sim.trace import Trace

BUCKETS = len(REQUEST_DURATION_BUCKETS) + 1


def test_the_pods_count_what_they_answered_by_the_second_they_answered_it() -> None:
    send = np.array([0.0, 0.5, 0.9, 1.2, 1.4, 1.6, 2.0, 2.7])
    latency = np.array([0.05, 0.051, 1.0, 0.0, 0.2, 0.001, 0.3, 9.0])
    code = np.array(
        [
            oc.OK,
            oc.pack(oc.OK, oc.CACHE),
            oc.TIMEOUT,
            oc.REFUSED,  # no pod answered: not counted
            oc.pack(oc.OK, oc.DEFAULT, oc.FALLBACK_FEATURES),
            oc.OVERLOAD,
            oc.RESET,  # not counted
            oc.OK,  # answered after the horizon: not counted
        ],
        dtype=np.int64,
    )
    timeline = Timeline((), 1, 3.0, (0.0,))
    c = exported_counts(Trace(send, send, send + latency, code, timeline), 3.0)
    assert c.seconds == 3
    assert c.success.tolist() == [2, 1, 0]
    assert c.error.tolist() == [0, 2, 0]  # the 504 answered at 1.9 s and the 503 at 1.601 s
    assert c.fallback.tolist() == [1, 1, 0]  # cached features at 0.551 s, the fallback model at 1.6 s
    bucket = {b: i for i, b in enumerate(REQUEST_DURATION_BUCKETS)}
    assert c.duration.shape == (3, BUCKETS)
    assert c.duration[0, bucket[0.05]] == 1  # a bucket holds durations up to its bound, included
    assert c.duration[0, bucket[0.075]] == 1
    assert c.duration[1, bucket[1.0]] == 1
    assert c.duration[1, bucket[0.2]] == 1
    assert c.duration[1, bucket[0.005]] == 1
    assert c.duration.sum() == 5


def test_the_service_histogram_has_the_vocabularys_buckets() -> None:
    assert REQUEST_BUCKETS == REQUEST_DURATION_BUCKETS
