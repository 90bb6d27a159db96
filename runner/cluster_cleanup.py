"""`chaoslab cleanup --backend kubernetes`: what a crashed run left on a cluster.

First what the crash marker lists is undone as on the testbed (runner.cleanup: pods still running
Chaos Mesh's pause image are recovered by deleting the object that holds them, NetworkChaos
objects are deleted). Then the chaos objects themselves go, found by chaoslab's labels: those the
marker names (one-shot pod-kills leave their object behind too), or with `--all` every object
labelled `app.kubernetes.io/managed-by: chaoslab` in the chaos namespaces. Each deletion waits
until Chaos Mesh has recovered its targets and let the object go.
"""

from __future__ import annotations

from kubernetes.client import ApiClient

from runner.cleanup import CleanupReport, cleanup
from runner.executors.cluster_view import ClusterSystem
from runner.executors.kubernetes import delete_leftover, find_labelled
from runner.marker import Marker


def cleanup_cluster(marker: Marker, system: ClusterSystem, api: ApiClient, sweep_all: bool) -> CleanupReport:
    inflight = marker.read()
    named = {(c.kind, c.namespace, c.name) for c in inflight.chaos} if inflight is not None else set()
    report = cleanup(marker, system, sweep_all=sweep_all)
    for leftover in find_labelled(api, list(system.chaos_namespaces)):
        if not sweep_all and (leftover.kind, leftover.namespace, leftover.name) not in named:
            continue
        if delete_leftover(api, leftover):
            report.deleted_objects.append(leftover.key)
    return report
