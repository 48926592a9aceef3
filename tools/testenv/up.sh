#!/usr/bin/env bash
# Starts a local control plane on free 127.0.0.1 ports with its data in DIR: etcd, kube-apiserver
# (waits until /readyz answers) and then kube-controller-manager running only the garbage
# collector and the namespace controller (waits until both have started; no other controller,
# no HTTPS port). It writes:
#   DIR/kubeconfig        admin kubeconfig (token auth, CA = the apiserver's self-signed cert)
#   DIR/etcd.pid, DIR/kube-apiserver.pid, DIR/kube-controller-manager.pid
#   DIR/etcd.log, DIR/kube-apiserver.log, DIR/kube-controller-manager.log
#   DIR/tokens.csv        static tokens (admin; add users here before start for RBAC tests)
#   DIR/env               KUBECONFIG=..., APISERVER_URL=..., ETCD_URL=...
# Exits 0 when ready; otherwise prints the tail of the logs, stops what it started and exits 1.
# Binaries: $KUBE_APISERVER, $KUBE_CONTROLLER_MANAGER and $ETCD where set; the others come from
# build.sh (which builds them, or finds them cached).
#
# With --node (up.sh --node DIR), the control plane is the one a node needs, and node.sh then
# starts the node itself (kube-scheduler, containerd, kubelet): the ServiceAccount admission
# plugin is on (Pods get projected tokens), and the controller manager also runs the
# Deployment, ReplicaSet, ServiceAccount, root-CA publisher, node lifecycle and EndpointSlice
# controllers.
set -euo pipefail

node=""
if [ "${1:-}" = "--node" ]; then node=1; shift; fi
dir=${1:?usage: up.sh [--node] DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ -z "${KUBE_APISERVER:-}" ] || [ -z "${KUBE_CONTROLLER_MANAGER:-}" ] || [ -z "${ETCD:-}" ]; then
  built=$("$here/build.sh")
  for name in KUBE_APISERVER KUBE_CONTROLLER_MANAGER ETCD; do
    if [ -z "${!name:-}" ]; then
      path=$(printf '%s\n' "$built" | sed -n "s/^$name=//p" | tail -n 1)
      [ -n "$path" ] || { echo "up.sh: build.sh printed no $name=" >&2; exit 1; }
      export "$name=$path"
    fi
  done
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
while [ "$peer_port" = "$etcd_port" ]; do peer_port=$(free_port); done
while [ "$api_port" = "$etcd_port" ] || [ "$api_port" = "$peer_port" ]; do api_port=$(free_port); done

mkdir -p "$dir/etcd" "$dir/certs"
[ -f "$dir/sa.key" ] || {
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}
# For a node: a CA that the kubelet trusts for client certificates, and the API server's client
# certificate from it (for logs, exec and port-forward through the kubelet).
kubelet_flags=()
if [ -n "$node" ]; then
  pki=$dir/kubelet-pki
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 7 \
    -subj "/CN=testenv-kubelet-client-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/apiserver-client.key" -out "$pki/apiserver-client.csr" \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' > "$pki/client.ext"
  openssl x509 -req -in "$pki/apiserver-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -out "$pki/apiserver-client.crt" -days 7 -extfile "$pki/client.ext" 2>/dev/null
  kubelet_flags=(--kubelet-client-certificate="$pki/apiserver-client.crt"
    --kubelet-client-key="$pki/apiserver-client.key" --kubelet-preferred-address-types=InternalIP)
fi
token=${TESTENV_ADMIN_TOKEN:-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
if [ ! -f "$dir/tokens.csv" ] || ! grep -q ',admin,admin,' "$dir/tokens.csv"; then
  echo "$token,admin,admin,\"system:masters\"" >> "$dir/tokens.csv"
else
  token=$(grep ',admin,admin,' "$dir/tokens.csv" | head -n 1 | cut -d, -f1)
fi

fail() {
  echo "up.sh: $1" >&2
  for log in etcd.log kube-apiserver.log kube-controller-manager.log; do
    [ -f "$dir/$log" ] && { echo "--- last lines of $log" >&2; tail -n 25 "$dir/$log" >&2; }
  done
  "$here/down.sh" --keep "$dir" >/dev/null 2>&1 || true
  exit 1
}

"$ETCD" --data-dir "$dir/etcd" --name default \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync \
  >"$dir/etcd.log" 2>&1 &
echo $! > "$dir/etcd.pid"

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
  kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || fail "etcd exited"
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 || fail "etcd did not become healthy"

# Without a node, no Pod runs and no token controller mints ServiceAccount tokens, so the
# ServiceAccount admission plugin is off.
if [ -n "$node" ]; then
  admission=(--enable-admission-plugins=OwnerReferencesPermissionEnforcement,ServiceAccount)
else
  admission=(--enable-admission-plugins=OwnerReferencesPermissionEnforcement --disable-admission-plugins=ServiceAccount)
fi
"$KUBE_APISERVER" --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$dir/certs" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
  --token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
  "${admission[@]}" ${kubelet_flags[@]+"${kubelet_flags[@]}"} \
  >"$dir/kube-apiserver.log" 2>&1 &
echo $! > "$dir/kube-apiserver.pid"

url="https://127.0.0.1:$api_port"
ready=""
for _ in $(seq 1 600); do
  if [ -f "$dir/certs/apiserver.crt" ] &&
    curl -fsS --cacert "$dir/certs/apiserver.crt" -H "Authorization: Bearer $token" "$url/readyz" >/dev/null 2>&1; then
    ready=1; break
  fi
  kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null || fail "kube-apiserver exited"
  sleep 0.1
done
[ -n "$ready" ] || fail "kube-apiserver was not ready within 60 s"

cat > "$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: $url
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: testenv
  context:
    cluster: testenv
    user: admin
current-context: testenv
KUBECONFIG
chmod 600 "$dir/kubeconfig"

node_controllers=deployment-controller,replicaset-controller,serviceaccount-controller
node_controllers=$node_controllers,root-ca-certificate-publisher-controller,node-lifecycle-controller
node_controllers=$node_controllers,endpointslice-controller
# The controller manager, with only what the tests need: the garbage collector (owner references)
# and the namespace controller (deleting a namespace deletes its content, then the namespace).
# It acts as the admin (no per-controller service accounts, so no token controller) and serves
# no HTTPS (--secure-port=0), so it opens no port at all.
"$KUBE_CONTROLLER_MANAGER" --kubeconfig="$dir/kubeconfig" \
  --controllers="garbagecollector,namespace${node:+,$node_controllers}" --leader-elect=false \
  --secure-port=0 --use-service-account-credentials=false --root-ca-file="$dir/certs/apiserver.crt" \
  >"$dir/kube-controller-manager.log" 2>&1 &
echo $! > "$dir/kube-controller-manager.pid"

# Running once both controllers have started (the garbage collector after its first discovery of
# the API's resources).
started=""
for _ in $(seq 1 600); do
  if grep -qs "Proceeding to collect garbage" "$dir/kube-controller-manager.log" &&
    grep -qs "Starting namespace controller" "$dir/kube-controller-manager.log"; then
    started=1; break
  fi
  kill -0 "$(cat "$dir/kube-controller-manager.pid")" 2>/dev/null || fail "kube-controller-manager exited"
  sleep 0.1
done
[ -n "$started" ] || fail "kube-controller-manager's controllers did not start within 60 s"

if [ -n "$node" ]; then
  "$here/node.sh" "$dir" || fail "the node did not start"
fi

printf 'KUBECONFIG=%s\nAPISERVER_URL=%s\nETCD_URL=%s\n' "$dir/kubeconfig" "$url" "http://127.0.0.1:$etcd_port" > "$dir/env"
echo "control plane ready at $url; KUBECONFIG=$dir/kubeconfig"
