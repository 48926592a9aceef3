#!/usr/bin/env bash
# The local demo, in one command: a real kube-apiserver + etcd on loopback (no container engine,
# no cluster), the CRDs, the operator with an in-process Luna Node simulator, and the examples
# applied and waited for. It then stays up for you to poke at; Ctrl-C stops everything it started
# and removes its folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${DEMO_DIR:-$(mktemp -d -t lunanode-demo-XXXXXX)}
operator_pid=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  ./tools/testenv/down.sh "$dir"
  echo "demo stopped; everything it started is gone"
}
trap cleanup EXIT INT TERM

echo "== building the operator and the control plane (the first run takes several minutes)"
cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/debug/lunanode-operator"
./tools/testenv/build.sh | tail -n 3
./tools/testenv/up.sh "$dir"
export KUBECONFIG=$dir/kubeconfig

echo "== installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for condition=established --timeout=60s -f crds/ >/dev/null

sim_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "== starting the operator with an in-process simulator on 127.0.0.1:$sim_port"
"$bin" run --simulator --simulator-listen "127.0.0.1:$sim_port" --simulator-build-seconds 10 \
  --metrics-addr 127.0.0.1:0 >"$dir/operator.log" 2>&1 &
operator_pid=$!

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

Operator log: $dir/operator.log
Press Ctrl-C to stop everything.
MSG
wait "$operator_pid"
