#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the pinned Go modules in this folder (go.mod/go.sum) and
# caches them outside the repository. A second run with the cache present returns in seconds.
# The last two lines printed are KUBE_APISERVER=<path> and ETCD=<path>.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod" | head -n 1)
[ -n "$k8s_version" ] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
minor=$(echo "$k8s_version" | cut -d. -f2)
# The cache key covers the pinned module versions, so a change of go.sum rebuilds.
sum=$(cat "$here/go.mod" "$here/go.sum" "$here"/cmd/*/main.go | sha256sum | cut -c1-12)
cache=${LUNANODE_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lunanode-operator/testenv}/$k8s_version-$sum
apiserver=$cache/kube-apiserver
etcd=$cache/etcd

mkdir -p "$cache"
# Test binaries start in parallel and may all ask for the binaries at once: one builds, the
# others wait for it.
exec 9>"$cache.lock"
flock 9
if [ ! -x "$apiserver" ] || [ ! -x "$etcd" ]; then
  command -v go >/dev/null || { echo "build.sh: Go is needed to build the control plane" >&2; exit 1; }
  # k8s.io/kubernetes states the Go version it needs in its go.mod; let the go command fetch
  # that toolchain from the module proxy when the machine's is older.
  export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
  export CGO_ENABLED=0
  echo "build.sh: building kube-apiserver $k8s_version and etcd (cold build: several minutes)" >&2
  cd "$here"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  go build -trimpath -ldflags "$ldflags" -o "$cache/kube-apiserver.tmp" ./cmd/kube-apiserver
  go build -trimpath -ldflags "-s -w" -o "$cache/etcd.tmp" ./cmd/etcd
  mv "$cache/kube-apiserver.tmp" "$apiserver"
  mv "$cache/etcd.tmp" "$etcd"
fi

echo "KUBE_APISERVER=$apiserver"
echo "ETCD=$etcd"
