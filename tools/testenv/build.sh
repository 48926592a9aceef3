#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the pinned Go modules in this
# folder (go.mod/go.sum) and caches them outside the repository. A second run with the cache
# present returns in seconds.
# The last three lines printed are KUBE_CONTROLLER_MANAGER=<path>, KUBE_APISERVER=<path> and
# ETCD=<path>, in that order (so the last two are the same as before the controller manager).
#
# With --node it also builds what the opt-in node needs (see node.sh), into a cache of its own,
# and prints KUBELET=, KUBE_SCHEDULER=, PAUSE=, CONTAINERD=, CONTAINERD_SHIM=, CTR= and RUNC=
# before those three lines:
#   kubelet, kube-scheduler   from the same pinned modules (cmd/kubelet, cmd/kube-scheduler)
#   pause                     cmd/pause, the process of each Pod's sandbox container
#   containerd, its runc shim and ctr   `go install ...@$CONTAINERD_VERSION` (static)
#   runc                      `go install ...@$RUNC_VERSION` with the seccomp build tag (cgo and
#                             libseccomp-dev: without it runc cannot apply the RuntimeDefault
#                             profile; Debian's own runc 1.1 fails under containerd 2)
set -euo pipefail
node=""
if [ "${1:-}" = "--node" ]; then node=1; shift; fi
containerd_version=v2.4.2
runc_version=v1.5.3

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod" | head -n 1)
[ -n "$k8s_version" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
minor=$(echo "$k8s_version" | cut -d. -f2)
# The cache key covers the pinned module versions, so a change of go.sum rebuilds.
sum=$(cat "$here/go.mod" "$here/go.sum" "$here"/cmd/{kube-apiserver,kube-controller-manager,etcd}/main.go | sha256sum | cut -c1-12)
cache=${LUNANODE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lunanode-operator/testenv}/$k8s_version-$sum
apiserver=$cache/kube-apiserver
controller_manager=$cache/kube-controller-manager
etcd=$cache/etcd

# The version variables only exist in the Kubernetes binaries; etcd and pause ignore them.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"

mkdir -p "$cache"
# Test binaries start in parallel and may all ask for the binaries at once: one builds, the
# others wait for it.
exec 9>"$cache.lock"
flock 9
if [ ! -x "$apiserver" ] || [ ! -x "$controller_manager" ] || [ ! -x "$etcd" ]; then
  command -v go >/dev/null || { echo "build.sh: Go is needed to build the control plane" >&2; exit 1; }
  # k8s.io/kubernetes states the Go version it needs in its go.mod; let the go command fetch
  # that toolchain from the module proxy when the machine's is older.
  export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
  export CGO_ENABLED=0
  echo "build.sh: building kube-apiserver, kube-controller-manager $k8s_version and etcd (cold build: several minutes)" >&2
  cd "$here"
  # One go build for the three: the packages they share compile once, and the go command keeps
  # both cores busy across all of them (links included) instead of finishing one binary at a time.
  # Measured cold on 2 cores shared with other builds: 1173 CPU-s in 22 min (load ~7), against
  # 1229 CPU-s in 22.4 min (load ~5.5) for three go builds in a row; kube-apiserver alone is
  # about 920 CPU-s of that.
  tmp=$cache/build.tmp
  rm -rf "$tmp" && mkdir -p "$tmp"
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/etcd
  mv "$tmp/kube-apiserver" "$apiserver"
  mv "$tmp/kube-controller-manager" "$controller_manager"
  mv "$tmp/etcd" "$etcd"
  rmdir "$tmp"
fi

if [ -n "$node" ]; then
  node_sum=$(cat "$here/go.mod" "$here/go.sum" "$here"/cmd/{kubelet,kube-scheduler,pause}/main.go |
    { cat; echo "$containerd_version $runc_version"; } | sha256sum | cut -c1-12)
  node_cache=$(dirname "$cache")/node-$k8s_version-$node_sum
  names=(kubelet kube-scheduler pause containerd containerd-shim-runc-v2 ctr runc)
  missing=""
  for name in "${names[@]}"; do [ -x "$node_cache/$name" ] || missing=1; done
  if [ -n "$missing" ]; then
    command -v go >/dev/null || { echo "build.sh: Go is needed to build the node" >&2; exit 1; }
    pkg-config --exists libseccomp 2>/dev/null ||
      { echo "build.sh: runc needs libseccomp-dev and pkg-config (apt-get install libseccomp-dev pkg-config)" >&2; exit 1; }
    export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
    echo "build.sh: building kubelet, kube-scheduler, containerd $containerd_version and runc $runc_version (cold build: several minutes)" >&2
    tmp=$node_cache.tmp
    rm -rf "$tmp" && mkdir -p "$tmp"
    (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/kubelet ./cmd/kube-scheduler ./cmd/pause)
    # Outside this module: their own go.mod files pin their dependencies.
    (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-trimpath go install \
      "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
      "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version" \
      "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version")
    (cd "$tmp" && CGO_ENABLED=1 GOBIN="$tmp" GOFLAGS="-trimpath -tags=seccomp" go install \
      "github.com/opencontainers/runc@$runc_version")
    rm -rf "$node_cache" && mv "$tmp" "$node_cache"
  fi
  for name in "${names[@]}"; do
    var=$(echo "$name" | tr 'a-z-' 'A-Z_')
    [ "$name" = containerd-shim-runc-v2 ] && var=CONTAINERD_SHIM
    echo "$var=$node_cache/$name"
  done
fi

echo "KUBE_CONTROLLER_MANAGER=$controller_manager"
echo "KUBE_APISERVER=$apiserver"
echo "ETCD=$etcd"
