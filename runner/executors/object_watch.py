"""Wait for one Kubernetes object to reach a state, by watching it, resuming watches that drop.

A watch is a long HTTP request that the API server or the network can end at any time: the server
closes it after its timeout, a proxy drops it, or the resourceVersion it resumes from is too old
(410 Gone, once etcd compacted it away). `wait_for` keeps the last resourceVersion it saw and
starts the next watch there; on 410 it lists again (a fresh resourceVersion) and goes on. It returns
the object once `done(obj)` holds, None once the object is deleted (when `done` accepts None), or
raises ClusterTimeoutError at the deadline. The `kubernetes` library's Watch does the streaming.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from runner.executors.base import Clock
from runner.executors.cluster_errors import ClusterTimeoutError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
WATCH_SECONDS = 30
"""How long one watch request asks the server to stay open (it may close it sooner)."""


@dataclass
class WatchStats:
    """How a wait went: how many watches it opened and how many lists it needed (for tests)."""

    watches: int = 0
    relists: int = 0


def wait_for(
    get: Callable[[], Obj | None],
    stream: Callable[..., Any],
    done: Callable[[Obj | None], bool],
    timeout: float,
    clock: Clock,
    what: str,
    watch_seconds: int = WATCH_SECONDS,
    stats: WatchStats | None = None,
) -> Obj | None:
    """Watch until `done(obj)`: `get()` reads the object (None when it does not exist), `stream`
    is the list function a `kubernetes.watch.Watch` streams (already bound to the object's name by
    a field selector). Raises ClusterTimeoutError naming `what` after `timeout` seconds."""
    stats = stats if stats is not None else WatchStats()
    deadline = clock.now() + timeout
    current = get()
    if done(current):
        return current
    version = (current or {}).get("metadata", {}).get("resourceVersion")
    while True:
        left = deadline - clock.now()
        if left <= 0:
            raise ClusterTimeoutError(f"{what}: not reached after {timeout:g} s")
        stats.watches += 1
        w = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            kwargs: dict[str, Any] = {"timeout_seconds": max(1, min(watch_seconds, int(left) + 1))}
            if version:
                kwargs["resource_version"] = version
                kwargs["allow_watch_bookmarks"] = True
            for event in w.stream(stream, **kwargs):  # type: ignore[no-untyped-call]
                raw = event["object"]
                obj: Obj = raw if isinstance(raw, dict) else raw.to_dict()
                version = obj.get("metadata", {}).get("resourceVersion", version)
                kind = event["type"]
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    if done(None):
                        return None
                    continue
                if kind == "ERROR":
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
                if done(obj):
                    return obj
                if clock.now() >= deadline:
                    break
        except ApiException as exc:
            if exc.status != 410:
                raise
            log.debug("%s: watch expired (410), listing again", what)
            stats.relists += 1
            current = get()
            if done(current):
                return current
            version = (current or {}).get("metadata", {}).get("resourceVersion")
        except (Urllib3Error, OSError) as exc:
            log.debug("%s: watch dropped (%s), resuming at %s", what, exc, version)
        finally:
            w.stop()  # type: ignore[no-untyped-call]
        # the watch ended (server timeout, dropped connection): read the object again before the
        # next one, so a change between the two watches is never missed
        current = get()
        if done(current):
            return current
        if current is None and version is None:
            continue
        version = (current or {}).get("metadata", {}).get("resourceVersion", version)
