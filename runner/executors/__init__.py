"""Executors: what applies Chaos Mesh manifests to a system.

`base` is the interface (Executor, ChaosStatus and its conditions, Clock, SystemView); `local` has
Chaos Mesh's semantics on the embedded testbed over a small Cluster interface, which `testbed`
implements with the testbed's client.
"""
