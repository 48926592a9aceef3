#!/usr/bin/env bash
# Stops the control plane that up.sh started in DIR (exactly those processes, by their PIDs) and
# removes DIR. With --keep, DIR is left in place (up.sh uses it to clean up after a failed start).
set -uo pipefail

keep=""
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi
dir=${1:?usage: down.sh [--keep] DIR}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)

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
# The node first, when up.sh --node started one: the kubelet (so it restarts nothing), then every
# container of containerd's (killed, then their shims), then containerd and the scheduler, and
# the mounts the kubelet and containerd made under DIR.
if [ -f "$dir/kubelet.pid" ] || [ -f "$dir/containerd.pid" ] || [ -f "$dir/kube-scheduler.pid" ]; then
  stop "$dir/kubelet.pid"
  socket=$dir/node/containerd.sock
  ctr=$(sed -n 's/^CTR=//p' "$dir/node.env" 2>/dev/null)
  if [ -n "$ctr" ] && [ -S "$socket" ]; then
    # `tasks delete --force` kills a task and deletes it: runc removes its state and cgroups, and
    # its shim exits, removing its socket.
    for task in $("$ctr" --address "$socket" -n k8s.io tasks ls -q 2>/dev/null); do
      "$ctr" --address "$socket" -n k8s.io tasks delete --force "$task" >/dev/null 2>&1
    done
  fi
  # A shim left over (its task could not be deleted), by the PID it wrote in its bundle.
  for pidfile in "$dir"/node/containerd-state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done
  stop "$dir/containerd.pid"
  stop "$dir/kube-scheduler.pid"
  awk -v prefix="$dir/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mount; do umount -l "$mount" 2>/dev/null; done
  # The kubelet's links to its containers' logs (a fixed folder) that point into DIR.
  find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete 2>/dev/null
  # Fixed folders the kubelet and the shims make, removed only when empty (no other node uses
  # them then).
  rmdir /var/log/containers /run/containerd/s /run/containerd 2>/dev/null
fi
# The controller manager first (it only talks to the apiserver), then the apiserver, so that it
# does not log a storm of etcd errors while shutting down, then etcd.
stop "$dir/kube-controller-manager.pid"
stop "$dir/kube-apiserver.pid"
stop "$dir/etcd.pid"
[ -n "$keep" ] || rm -rf "$dir"
