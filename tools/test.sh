#!/usr/bin/env bash
# Runs every check and test: formatting, lints, then all tests (unit, simulator, and end to end
# against a real local kube-apiserver + etcd, built once by tools/testenv/build.sh and cached).
#
# ./tools/test.sh --long  also runs the long forms: each fuzz target for 10 minutes and a 10-minute
# chaos storm (about an hour more). Without it, the fuzz targets run 3 s each and the storm 40 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "${1:-}" = "--long" ]; then
  export LUNANODE_FUZZ_SECONDS=${LUNANODE_FUZZ_SECONDS:-600}
  export LUNANODE_CHAOS_SECONDS=${LUNANODE_CHAOS_SECONDS:-600}
fi

echo "== tools"
# helm, for the deployment tests (tests/deploy.rs, tests/rbac.rs): built once from the Go module
# proxy and cached outside the repository.
PATH="$(./tools/ensure-helm.sh):$PATH"
export PATH
command -v kubectl >/dev/null || { echo "the tests need kubectl on PATH" >&2; exit 1; }
# cargo-deny, for the dependency policy (deny.toml): built once from crates.io into the same
# cache (a few minutes, the first time only).
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-deny@0.20.2 --root "$HOME/.cache/lunanode-operator"
fi

echo "== control plane and node binaries"
# --node: also the kubelet, kube-scheduler, containerd and runc of tests/incluster.rs.
./tools/testenv/build.sh --node | tail -n 3
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo deny (licenses, bans, sources)"
cargo deny --log-level error --locked check --hide-inclusion-graph licenses bans sources
echo "== cargo test"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
cargo test --all-targets --locked --no-fail-fast 2>&1 | tee "$output"
# Repeat the per-binary summaries as one last line, so the outcome is the last thing printed.
python3 - "$output" <<'PY'
import re, sys
passed = failed = ignored = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
    if m:
        passed += int(m.group(1)); failed += int(m.group(2)); ignored += int(m.group(3))
print(f"{passed} passed, {failed} failed, {ignored} skipped")
PY
