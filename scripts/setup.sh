#!/usr/bin/env bash
# Set up chaoslab on a Debian machine: the servers the testbed runs (Redis, HAProxy, Prometheus and its node exporter,
# from Debian packages), Chromium (the report's browser test), and a virtual environment in .venv
# with chaoslab and its dev tools. With --cluster, also the Kubernetes control plane the
# Kubernetes backend's tests run against (scripts/build-control-plane.sh: Go builds, about 10
# minutes the first time, seconds once built).
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=0
for arg in "$@"; do
    case "$arg" in
        --cluster) cluster=1 ;;
        *) echo "setup: unknown option $arg (known: --cluster)" >&2; exit 2 ;;
    esac
done

need=()
for pair in redis-server:redis-server haproxy:haproxy prometheus:prometheus promtool:prometheus prometheus-node-exporter:prometheus-node-exporter chromium:chromium; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # The Debian packages start their own daemons; chaoslab starts its own instances on free ports.
    for svc in redis-server haproxy prometheus prometheus-node-exporter; do
        if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
        if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
    done
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.chaoslab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

if [ "$cluster" -eq 1 ]; then
    bash scripts/build-control-plane.sh
fi
