#!/usr/bin/env bash
# Starts the opt-in node of the local control plane that `up.sh --node DIR` started: the
# kube-scheduler, containerd (running containers with runc) and a kubelet registered as the node
# `testenv-node`. up.sh runs it last; down.sh stops what it started.
#
# The node's address is the machine's own (the kubelet picks the address of the default route;
# it refuses a loopback one). The kubelet's API listens there and on loopback, and accepts only
# the API server's client certificate (up.sh makes both), so `kubectl logs` and `exec` work.
# The node is for Pods on the host network only: no CNI plugin is installed (the CNI config
# exists so that the runtime reports its network ready and the node turns Ready), and no
# kube-proxy runs, so a Service's cluster IP leads nowhere. A Pod reaches the API server at
# 127.0.0.1 (its in-cluster KUBERNETES_SERVICE_HOST/PORT have to be set to it) and loopback
# services such as the simulator.
# Images come from no registry: `ctr -a $CONTAINERD_ADDRESS -n k8s.io images import FILE`
# (see DIR/node.env) loads an OCI archive, and Pods use it with `imagePullPolicy: Never` or
# `IfNotPresent`. The sandbox image is written here from the pause binary.
#
# What this sandbox needs, found by running it (docs/testenv.md): cgroup v1 allowed
# (`failCgroupV1: false`), the cgroupfs driver without QoS cgroups, containerd's
# `restrict_oom_score_adj` (lowering oom_score_adj is refused), and runc built with seccomp.
#
# It writes:
#   DIR/node/                  containerd's and the kubelet's data, the CNI config
#   DIR/node.env               CONTAINERD_ADDRESS=..., CTR=..., NODE_NAME=...
#   DIR/{kube-scheduler,containerd,kubelet}.{pid,log}
set -euo pipefail

dir=${1:?usage: node.sh DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(cd "$dir" && pwd)
node=$dir/node
name=testenv-node

built=$("$here/build.sh" --node)
for var in KUBELET KUBE_SCHEDULER PAUSE CONTAINERD CONTAINERD_SHIM CTR RUNC; do
  if [ -z "${!var:-}" ]; then
    path=$(printf '%s\n' "$built" | sed -n "s/^$var=//p" | tail -n 1)
    [ -n "$path" ] || { echo "node.sh: build.sh printed no $var=" >&2; exit 1; }
    export "$var=$path"
  fi
done

fail() {
  echo "node.sh: $1" >&2
  for log in kube-scheduler.log containerd.log kubelet.log; do
    [ -f "$dir/$log" ] && { echo "--- last lines of $log" >&2; tail -n 25 "$dir/$log" >&2; }
  done
  exit 1
}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
kubectl_() { kubectl --kubeconfig "$dir/kubeconfig" "$@"; }

# The scheduler: no leader election, no port of its own.
"$KUBE_SCHEDULER" --kubeconfig="$dir/kubeconfig" --leader-elect=false --secure-port=0 \
  >"$dir/kube-scheduler.log" 2>&1 &
echo $! > "$dir/kube-scheduler.pid"

# containerd, with runc and the shim first on its PATH.
mkdir -p "$node/bin" "$node/cni/net.d" "$node/cni/bin" "$node/manifests" "$node/kubelet"
ln -sf "$RUNC" "$node/bin/runc"
ln -sf "$CONTAINERD_SHIM" "$node/bin/containerd-shim-runc-v2"
socket=$node/containerd.sock
cat > "$node/containerd.toml" <<TOML
version = 3
root = "$node/containerd"
state = "$node/containerd-state"

[grpc]
  address = "$socket"

[ttrpc]
  address = "$socket.ttrpc"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "localhost/lunanode-testenv/pause:1"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$node/cni/bin"]
  conf_dir = "$node/cni/net.d"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "$RUNC"
  Root = "$node/runc"

# Nothing outside DIR: no NRI socket in /var/run/nri, no /opt/containerd.
[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.internal.v1.opt']
  path = "$node/opt"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
cat > "$node/cni/net.d/10-testenv.conflist" <<'JSON'
{"cniVersion": "1.0.0", "name": "testenv", "plugins": [{"type": "loopback"}]}
JSON
PATH="$node/bin:$PATH" "$CONTAINERD" --config "$node/containerd.toml" >"$dir/containerd.log" 2>&1 &
echo $! > "$dir/containerd.pid"
ctr_() { "$CTR" --address "$socket" --namespace k8s.io "$@"; }
for _ in $(seq 1 300); do
  ctr_ version >/dev/null 2>&1 && break
  kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || fail "containerd exited"
  sleep 0.1
done
ctr_ version >/dev/null 2>&1 || fail "containerd did not answer within 30 s"
# Written now, so that down.sh finds the containers to stop even if the node never turns Ready.
printf 'CONTAINERD_ADDRESS=%s\nCTR=%s\nNODE_NAME=%s\n' "$socket" "$CTR" "$name" > "$dir/node.env"

# The sandbox image, from the pause binary.
echo '{"Entrypoint": ["/pause"], "User": "65535:65535"}' > "$node/pause-config.json"
python3 "$here/../image/oci-image.py" --out "$node/pause.tar" --name localhost/lunanode-testenv/pause:1 \
  --config "$node/pause-config.json" --file "$PAUSE:/pause:0755" >/dev/null
ctr_ images import "$node/pause.tar" >"$node/import.log" 2>&1 || { cat "$node/import.log" >&2; fail "importing the pause image failed"; }

kubelet_port=$(free_port); healthz_port=$(free_port)
while [ "$healthz_port" = "$kubelet_port" ]; do healthz_port=$(free_port); done
cat > "$node/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
containerRuntimeEndpoint: unix://$socket
staticPodPath: $node/manifests
podLogsDir: $node/pod-logs
failSwapOn: false
address: 0.0.0.0
port: $kubelet_port
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
readOnlyPort: 0
resolvConf: ""
clusterDomain: cluster.local
# No eviction: the tests share the machine's disk and memory with everything else.
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
# Only the holder of a client certificate of up.sh's CA (the API server) gets in, and may do
# everything.
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: $dir/kubelet-pki/ca.crt
authorization:
  mode: AlwaysAllow
YAML
"$KUBELET" --config="$node/kubelet.yaml" --kubeconfig="$dir/kubeconfig" \
  --root-dir="$node/kubelet" --cert-dir="$node/kubelet-pki" \
  --hostname-override="$name" \
  >"$dir/kubelet.log" 2>&1 &
echo $! > "$dir/kubelet.pid"

ready=""
for _ in $(seq 1 1200); do
  status=$(kubectl_ get node "$name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [ "$status" = "True" ] && { ready=1; break; }
  kill -0 "$(cat "$dir/kubelet.pid")" 2>/dev/null || fail "the kubelet exited"
  kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null || fail "containerd exited"
  kill -0 "$(cat "$dir/kube-scheduler.pid")" 2>/dev/null || fail "kube-scheduler exited"
  sleep 0.1
done
[ -n "$ready" ] || fail "node $name was not Ready within 120 s"

echo "node $name ready"
