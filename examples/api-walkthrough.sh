#!/usr/bin/env bash
# A first session with the API client and the simulator, no account needed: start the
# simulator, create a VM with `lunanode-operator api`, list it, and watch `vm info` move it from
# BUILD to Online. Run from the repository: bash examples/api-walkthrough.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=${LUNANODE_OPERATOR:-}
if [ -z "$bin" ]; then
  cargo build --quiet --locked
  bin="${CARGO_TARGET_DIR:-target}/debug/lunanode-operator"
fi
# A made-up account for the simulator: a 16-character ID and a 128-character key.
export LUNANODE_API_ID=walkthrough00001
LUNANODE_API_KEY=$(printf 'k%.0s' $(seq 1 128))
export LUNANODE_API_KEY

out=$(mktemp)
"$bin" sim --listen 127.0.0.1:0 --build-seconds "${BUILD_SECONDS:-10}" >"$out" &
sim=$!
trap 'kill $sim 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q '^listening on' "$out" && break; sleep 0.1; done
endpoint="$(sed -n 's/^listening on //p' "$out")/api/"
api() { "$bin" api --endpoint "$endpoint" --allow-insecure-endpoint "$@"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "== the simulator listens at $endpoint"
image=$(api image list region=toronto | field "[i['image_id'] for i in d['images'] if i['name']=='Ubuntu 22.04 64-bit (template)'][0]")
echo "== api vm create hostname=walkthrough plan_id=m.1 image_id=$image region=toronto"
vm=$(api vm create hostname=walkthrough plan_id=m.1 image_id="$image" region=toronto | field "d['vm_id']")
echo "created vm $vm"
echo "== api vm list"
api vm list
echo "== api vm info vm_id=$vm, until it is Online"
for _ in $(seq 1 60); do
  status=$(api vm info vm_id="$vm" | field "d['info']['status_nohtml'] + ' ip=' + (d['info']['ip'] or '-')")
  echo "$(date +%T) $status"
  case "$status" in Online*) exit 0 ;; esac
  sleep 1
done
echo "the VM did not come online" >&2
exit 1
