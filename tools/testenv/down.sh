#!/usr/bin/env bash
# Stops the control plane that up.sh started in DIR (exactly those processes, by their PIDs) and
# removes DIR. With --keep, DIR is left in place (up.sh uses it to clean up after a failed start).
set -uo pipefail

keep=""
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
dir=${1:?usage: down.sh [--keep] DIR}
[ -d "$dir" ] || exit 0

stop() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
# The controller manager first (it only talks to the apiserver), then the apiserver, so that it
# does not log a storm of etcd errors while shutting down, then etcd.
stop "$dir/kube-controller-manager.pid"
stop "$dir/kube-apiserver.pid"
stop "$dir/etcd.pid"
[ -n "$keep" ] || rm -rf "$dir"
