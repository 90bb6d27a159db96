"""Every request attempt of one replication: when it was sent, started, ended, and how (a code)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.outcomes import OK, STATUS_MASK
from sim.timeline import Event, Timeline


@dataclass(frozen=True)
class Trace:
    """Parallel arrays, one entry per attempt in the order the model processed them.

    send: when the client sent it; start: when a pod slot took it (= end if it never got one);
    end: when the client had its answer or gave up; code: `sim.outcomes` packed outcome;
    served: with a request overhead in the profile, when the attempt ended on the pods' side (its end
    without the overhead, cut at the client's timeout as `end` is); None without one (then `end`).
    """

    send: np.ndarray
    start: np.ndarray
    end: np.ndarray
    code: np.ndarray
    timeline: Timeline
    breaker_events: tuple[Event, ...] = ()
    served: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.send)
        if not len(self.start) == len(self.end) == len(self.code) == n:
            raise ValueError("send, start, end and code must have one entry per request")
        if self.served is not None and len(self.served) != n:
            raise ValueError("served must have one entry per request")

    @classmethod
    def from_lists(
        cls,
        send: list[float],
        start: list[float],
        end: list[float],
        code: list[int],
        timeline: Timeline,
        breaker_events: list[Event],
        served: list[float] | None = None,
    ) -> Trace:
        return cls(
            np.asarray(send, dtype=float),
            np.asarray(start, dtype=float),
            np.asarray(end, dtype=float),
            np.asarray(code, dtype=np.int64),
            timeline,
            tuple(sorted(breaker_events, key=lambda e: (e.time, e.pod or 0))),
            None if served is None else np.asarray(served, dtype=float),
        )

    def __len__(self) -> int:
        return len(self.send)

    @property
    def latency(self) -> np.ndarray:
        latency: np.ndarray = self.end - self.send
        return latency

    @property
    def pod_end(self) -> np.ndarray:
        """When each attempt ended on the pods' side: `served`, or `end` without a request overhead."""
        return self.end if self.served is None else self.served

    @property
    def wait(self) -> np.ndarray:
        """Time spent queued before a slot took the request."""
        wait: np.ndarray = self.start - self.send
        return wait

    @property
    def ok(self) -> np.ndarray:
        ok: np.ndarray = (self.code & STATUS_MASK) == OK
        return ok

    @property
    def events(self) -> tuple[Event, ...]:
        """Cluster and breaker events together, in time order."""
        return tuple(sorted((*self.timeline.events, *self.breaker_events), key=lambda e: e.time))
