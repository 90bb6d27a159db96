"""A run's timeline for people: events of many pods grouped into one line each.

Ten pods whose breakers open within a second of each other are one thing that happened, not ten:
consecutive events of the same kind (and the same chaos object or alert, where they name one) that
follow each other within GROUP_GAP seconds become one line, "breaker-open on 10/10 pods
121.2-122.2 s". Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaos.record import Event, EventKind

GROUP_GAP = 5.0
"""Seconds between two events of one group at most."""
POD_KINDS = frozenset(
    {
        EventKind.POD_CREATED,
        EventKind.POD_DELETED,
        EventKind.POD_READY,
        EventKind.POD_NOT_READY,
        EventKind.BREAKER_OPEN,
        EventKind.BREAKER_CLOSED,
    }
)
HIDDEN = frozenset({EventKind.LOAD_STARTED, EventKind.LOAD_STOPPED})


@dataclass(frozen=True)
class Moment:
    """One line of the timeline: an event, or a group of pod events of one kind."""

    start: float
    end: float
    kind: str
    text: str
    pods: tuple[str, ...] = ()

    def when(self, origin: float) -> str:
        a, b = self.start - origin, self.end - origin
        return f"{a:.1f} s" if b - a < 0.05 else f"{a:.1f}-{b:.1f} s"


def moments(events: Sequence[Event], desired: int | None = None) -> list[Moment]:
    """The timeline in time order, pod events grouped; `desired` is the pod count ("3/10 pods")."""
    out: list[Moment] = []
    open_group: list[Event] = []

    def close() -> None:
        if open_group:
            out.append(_group(open_group, desired))
            open_group.clear()

    for e in sorted(events, key=lambda e: e.time):
        if e.kind in HIDDEN:
            continue
        if e.kind in POD_KINDS:
            if open_group and (open_group[-1].kind != e.kind or e.time - open_group[-1].time > GROUP_GAP):
                close()
            open_group.append(e)
            continue
        close()
        out.append(Moment(e.time, e.time, str(e.kind), describe(e)))
    close()
    return sorted(out, key=lambda m: m.start)


def _group(events: list[Event], desired: int | None) -> Moment:
    pods = tuple(dict.fromkeys(str(e.detail.get("pod", "?")) for e in events))
    kind = str(events[0].kind)
    if len(pods) == 1:
        text = f"{kind}: {pods[0]}"
    else:
        of = f"/{desired}" if desired else ""
        text = f"{kind} on {len(pods)}{of} pods"
    return Moment(events[0].time, events[-1].time, kind, text, pods)


def describe(e: Event) -> str:
    d = e.detail
    for key in ("phase", "chaos", "alert", "message", "detail", "status"):
        if key in d:
            extra = f" on {', '.join(d['targets'])}" if key == "chaos" and d.get("targets") else ""
            return f"{e.kind}: {d[key]}{extra}"
    if e.kind == EventKind.STEADY_STATE:
        return f"{e.kind}: " + ("held" if d.get("holds") else "did not hold")
    if e.kind == EventKind.ROLLBACK:
        return f"{e.kind}: " + ("done" if d.get("done") else "incomplete")
    return str(e.kind)
