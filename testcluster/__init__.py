"""A real Kubernetes control plane on one machine, for the Kubernetes backend's tests.

etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler, kwok (fake nodes whose pods
run without containers) and Chaos Mesh's chaos-controller-manager, all built from their Go modules
by `scripts/build-control-plane.sh`, started as processes of this machine on loopback ports. No
container runtime is involved, so no chaos-daemon either: NetworkChaos objects are accepted and
stored by the real API server, but nothing injects them (docs/kubernetes.md).
"""
