#!/usr/bin/env bash
# Build the Kubernetes control plane the Kubernetes-backend tests run against:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and Chaos
# Mesh's chaos-controller-manager, from the Go module proxy at pinned versions.
#
# Each component gets a tiny Go module of its own under $OUT/src/NAME that
# requires the upstream module and lists the command as a `tool`: upstream's
# replace directives (k8s.io/kubernetes maps its staging modules to ./staging,
# Chaos Mesh and etcd map theirs to sibling folders) only apply to a main
# module, so ours maps them to published versions instead, and repeats the ones
# that pin a published version (Chaos Mesh pins runtime-spec v1.2.0).
#
# Binaries land in $OUT/bin (default build/control-plane/bin, ignored by git);
# a stamp per binary records the version it was built from, so a second run
# builds only what is missing or out of date and reuses the Go build cache.
# Prints the build time of each component.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${CHAOSLAB_CONTROL_PLANE:-$root/build/control-plane}"
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0
if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
        export PATH="/usr/local/go/bin:$PATH"
    else
        echo "control-plane: the go command is not installed (Go 1.26 or newer is needed)" >&2
        exit 1
    fi
fi

K8S_VERSION=v1.36.3          # kube-apiserver, kube-controller-manager, kube-scheduler
K8S_STAGING=v0.36.3          # the staging modules published with it
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.7.0
# Chaos Mesh publishes no tagged Go module versions; these are the proxy's
# pseudo-versions of master a few weeks after the commit the CRDs in
# ../shared/chaos-mesh-crds come from (PodChaos, NetworkChaos and StatusCheck are
# byte-identical; Schedule and Workflow gained fields since).
CHAOS_MESH_VERSION=v0.9.1-0.20260902003049-47411975a8cb
CHAOS_MESH_API_VERSION=v0.0.0-20260906172039-d70b66ad97ac

mkdir -p "$OUT/bin" "$OUT/src"

staging_modules=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
    cloud-provider cluster-bootstrap code-generator component-base component-helpers
    controller-manager cri-api cri-client cri-streaming csi-translation-lib
    dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
    kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
    pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)

# up_to_date NAME VERSION: true when bin/NAME exists and was built from VERSION.
up_to_date() {
    [ -x "$OUT/bin/$1" ] && [ "$(cat "$OUT/bin/$1.version" 2>/dev/null)" = "$2" ]
}

# module NAME: write $OUT/src/NAME/go.mod from stdin, tidy it.
module() {
    local dir="$OUT/src/$1"
    mkdir -p "$dir"
    cat >"$dir/go.mod"
    (cd "$dir" && go mod tidy >/dev/null)
}

# build NAME VERSION LDFLAGS PACKAGE...: go build the packages into bin/.
build() {
    local name=$1 version=$2 ldflags=$3
    shift 3
    local start=$SECONDS
    (cd "$OUT/src/$name" && go build -ldflags "-s -w $ldflags" -o "$OUT/bin/" "$@")
    local pkg
    for pkg in "$@"; do
        echo "$version" >"$OUT/bin/$(basename "$pkg").version"
    done
    echo "control-plane: built $name $version in $((SECONDS - start)) s"
}

if ! up_to_date kube-apiserver "$K8S_VERSION" || ! up_to_date kube-controller-manager "$K8S_VERSION" \
    || ! up_to_date kube-scheduler "$K8S_VERSION"; then
    {
        echo "module chaoslab.test/kubernetes"
        echo "go 1.26.0"
        echo "require k8s.io/kubernetes $K8S_VERSION"
        echo "tool ("
        echo "    k8s.io/kubernetes/cmd/kube-apiserver"
        echo "    k8s.io/kubernetes/cmd/kube-controller-manager"
        echo "    k8s.io/kubernetes/cmd/kube-scheduler"
        echo ")"
        echo "replace ("
        for m in "${staging_modules[@]}"; do echo "    k8s.io/$m => k8s.io/$m $K8S_STAGING"; done
        echo ")"
    } | module kubernetes
    minor=${K8S_VERSION#v1.}
    minor=${minor%%.*}
    v=k8s.io/component-base/version
    build kubernetes "$K8S_VERSION" \
        "-X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler
fi

if ! up_to_date etcd "$ETCD_VERSION"; then
    module etcd <<EOF
module chaoslab.test/etcd
go 1.26.0
require go.etcd.io/etcd/server/v3 $ETCD_VERSION
tool go.etcd.io/etcd/server/v3
replace (
    go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
    go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
    go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
    go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
EOF
    (cd "$OUT/src/etcd" && start=$SECONDS \
        && go build -ldflags "-s -w" -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3 \
        && echo "$ETCD_VERSION" >"$OUT/bin/etcd.version" \
        && echo "control-plane: built etcd $ETCD_VERSION in $((SECONDS - start)) s")
fi

if ! up_to_date kwok "$KWOK_VERSION"; then
    module kwok <<EOF
module chaoslab.test/kwok
go 1.26.0
require sigs.k8s.io/kwok $KWOK_VERSION
tool sigs.k8s.io/kwok/cmd/kwok
EOF
    build kwok "$KWOK_VERSION" "" sigs.k8s.io/kwok/cmd/kwok
fi

if ! up_to_date chaos-controller-manager "$CHAOS_MESH_VERSION"; then
    module chaos-mesh <<EOF
module chaoslab.test/chaos-mesh
go 1.26.0
require github.com/chaos-mesh/chaos-mesh $CHAOS_MESH_VERSION
tool github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager
replace (
    github.com/chaos-mesh/chaos-mesh/api => github.com/chaos-mesh/chaos-mesh/api $CHAOS_MESH_API_VERSION
    github.com/opencontainers/runtime-spec => github.com/opencontainers/runtime-spec v1.2.0
)
EOF
    build chaos-mesh "$CHAOS_MESH_VERSION" "" github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager
fi

# The CRDs of the Chaos Mesh version built: the controller watches every kind, so the
# test cluster installs them all.
if [ ! -f "$OUT/crds/$CHAOS_MESH_VERSION" ]; then
    src="$(cd "$OUT/src/chaos-mesh" && go list -m -f '{{.Dir}}' github.com/chaos-mesh/chaos-mesh)"
    rm -rf "$OUT/crds"
    mkdir -p "$OUT/crds"
    cp "$src"/config/crd/bases/*.yaml "$OUT/crds/"
    chmod u+w "$OUT"/crds/*.yaml
    touch "$OUT/crds/$CHAOS_MESH_VERSION"
fi

echo "control-plane: binaries in $OUT/bin, Chaos Mesh CRDs in $OUT/crds"
