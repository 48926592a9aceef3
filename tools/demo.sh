#!/usr/bin/env bash
# The local demo: a real kube-apiserver + etcd on loopback (no container engine needed), the
# CRDs installed, the Luna Node simulator and the operator running, and the examples applied.
# Stop it with Ctrl-C: everything it started is stopped and its folder removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${DEMO_DIR:-$(mktemp -d -t lunanode-demo-XXXXXX)}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ./tools/testenv/down.sh "$dir"
  echo "demo stopped; $dir removed"
}
trap cleanup EXIT INT TERM

echo "== building the operator and the control plane (first run: several minutes)"
cargo build --release --locked --quiet
./tools/testenv/build.sh | tail -n 2
./tools/testenv/up.sh "$dir"
export KUBECONFIG=$dir/kubeconfig

echo "== installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=established --timeout=60s -f crds/ >/dev/null

cat <<MSG

The local control plane is up.
  export KUBECONFIG=$KUBECONFIG
  kubectl get crds
Press Ctrl-C to stop everything.
MSG
while true; do sleep 3600; done
