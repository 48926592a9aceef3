#!/usr/bin/env bash
# The local demo, in one command: a real kube-apiserver + etcd on loopback (no container engine,
# no cluster), the CRDs, the operator with an in-process Luna Node simulator, and the examples
# applied and waited for. It then stays up for you to poke at; Ctrl-C stops everything it started
# and removes its folder.
#
# ./tools/demo.sh --in-cluster  runs the operator as users do instead: the control plane gets a
# node (kubelet, containerd, runc: tools/testenv/up.sh --node), the operator image is built
# without a container engine (tools/image/build.sh) and imported into the node, the simulator
# runs as its own process, and the Helm chart installs the operator into lunanode-system,
# serving the default namespace. Needs root (the kubelet and containerd) and the Debian packages
# libseccomp-dev and ca-certificates.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
in_cluster=""
case "${1:-}" in
  --in-cluster) in_cluster=1 ;;
  "") ;;
  *) echo "usage: tools/demo.sh [--in-cluster]" >&2; exit 2 ;;
esac

dir=${DEMO_DIR:-$(mktemp -d -t lunanode-demo-XXXXXX)}
operator_pid=""
sim_pid=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  ./tools/testenv/down.sh "$dir"
  echo "demo stopped; everything it started is gone"
}
trap cleanup EXIT INT TERM

echo "== building the operator and the control plane (the first run takes several minutes)"
cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/debug/lunanode-operator"
./tools/testenv/build.sh ${in_cluster:+--node} | tail -n 3
./tools/testenv/up.sh ${in_cluster:+--node} "$dir"
export KUBECONFIG=$dir/kubeconfig
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sim_port=$(free_port)

if [ -z "$in_cluster" ]; then
  echo "== installing the CRDs"
  kubectl apply --server-side -f crds/ >/dev/null
  kubectl wait --for condition=established --timeout=60s -f crds/ >/dev/null

  echo "== starting the operator with an in-process simulator on 127.0.0.1:$sim_port"
  "$bin" run --simulator --simulator-listen "127.0.0.1:$sim_port" --simulator-build-seconds 10 \
    --metrics-addr 127.0.0.1:0 >"$dir/operator.log" 2>&1 &
  operator_pid=$!
  operator_log="Operator log: $dir/operator.log"
else
  # The demo account of examples/credentials-secret.yaml.
  echo "== starting the simulator on 127.0.0.1:$sim_port"
  "$bin" sim --listen "127.0.0.1:$sim_port" --build-seconds 10 --api-id demoapiid0000001 \
    --api-key "$(printf 'demo%.0s' {1..32})" >"$dir/simulator.log" 2>&1 &
  sim_pid=$!

  echo "== building the operator image and importing it into the node"
  tag=demo-$(date +%s)
  tools/image/build.sh --binary "$bin" --tag "$tag" --out "$dir/image.oci.tar" | tail -n 1
  ctr=$(sed -n 's/^CTR=//p' "$dir/node.env")
  socket=$(sed -n 's/^CONTAINERD_ADDRESS=//p' "$dir/node.env")
  "$ctr" --address "$socket" --namespace k8s.io images import "$dir/image.oci.tar" >/dev/null

  echo "== helm install: the operator in lunanode-system, serving the default namespace"
  PATH="$(./tools/ensure-helm.sh):$PATH"
  api_port=$(sed -n 's|^APISERVER_URL=https://127.0.0.1:||p' "$dir/env")
  # The node has no Pod network and no kube-proxy: the Pod runs on the host network and reaches
  # the API server at its loopback address (docs/install.md).
  cat > "$dir/values.yaml" <<VALUES
image: {repository: lunanode-operator, tag: "$tag", pullPolicy: Never}
watchNamespaces: [default]
hostNetwork: true
strategy: {type: Recreate}
endpoint: "http://127.0.0.1:$sim_port/api/"
allowInsecureEndpoint: true
metrics: {port: $(free_port)}
extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
  - {name: KUBERNETES_SERVICE_PORT, value: "$api_port"}
VALUES
  kubectl create namespace lunanode-system >/dev/null
  helm install lunanode-operator deploy/helm/lunanode-operator --namespace lunanode-system \
    --values "$dir/values.yaml" --wait --timeout 180s >/dev/null
  kubectl -n lunanode-system get pods -o wide
  operator_log="Operator log: $dir/node/pod-logs/ (kubectl logs needs the node's name to resolve)"
fi

echo "== applying examples/"
kubectl apply -f examples/
echo "== waiting until every object is Ready"
kubectl wait --for=condition=Ready lunavm,lunavolume,lunafloatingip,lunanetwork,lunaloadbalancer,lunadnszone,lunasshkey,lunasecuritygroup,lunastartupscript,lunaimage,lunavolumesnapshot,lunadynamicrecord,lunaemaildomain,lunaemailuser,lunaemailalias,lunamonitorcontact,lunamonitorcheck,lunasnapshotschedule \
  --all --timeout=300s
kubectl get lunavms,lunavolumes,lunafloatingips,lunanetworks,lunaloadbalancers,lunadnszones,lunasshkeys,lunasecuritygroups,lunastartupscripts,lunaimages,lunavolumesnapshots,lunadynamicrecords,lunaemaildomains,lunaemailusers,lunaemailaliases,lunamonitorcontacts,lunamonitorchecks,lunasnapshotschedules -o wide

cat <<MSG

The demo is up. In another terminal:
  export KUBECONFIG=$KUBECONFIG
  kubectl get lvm                      # READY, SYNCED, ID, IP, STATUS
  kubectl describe lvm web-1           # conditions and Events
  kubectl patch lvm web-1 --type merge -p '{"spec":{"plan":"m.4"}}'          # resize
  kubectl patch lvm web-1 --type merge -p '{"spec":{"powerState":"Stopped"}}' # power off
  kubectl get secret web-1-connection -o yaml                                 # login details
  kubectl get lvol,lfip,lnet,llb,ldns,lkey,lsg,lscript,limg,lvsnap,ldyn,ledomain,leuser,lealias,lcontact,lcheck  # volume and IP on web-1, networks, load balancer, zone, key, firewall, images, snapshots, dynamic DNS, e-mail, monitoring
  kubectl patch lvol web-1-data --type merge -p '{"spec":{"size":40}}'        # grow the volume
  kubectl delete lvm web-1             # waits (Ready=False InUse) while the volume and IP hold it
  kubectl delete lvol,lfip --all       # ... then they let go, and the VM goes too

The simulated Luna Node API (the demo account of examples/credentials-secret.yaml):
  export LUNANODE_API_ID=demoapiid0000001 LUNANODE_API_KEY=\$(printf 'demo%.0s' {1..32})
  $bin api --endpoint http://127.0.0.1:$sim_port/api/ --allow-insecure-endpoint vm list
  curl -s http://127.0.0.1:$sim_port/_sim/stats

$operator_log
Press Ctrl-C to stop everything.
MSG
if [ -n "$operator_pid" ]; then wait "$operator_pid"; else wait "$sim_pid"; fi
