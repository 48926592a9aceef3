#!/usr/bin/env bash
# Prints the folder holding `helm`: where it is on the PATH, or the cache it is built into once
# from the Go module proxy (helm v3.22.0, into ~/.cache/lunanode-operator/bin/).
set -euo pipefail
if command -v helm >/dev/null 2>&1; then
  dirname "$(command -v helm)"
  exit 0
fi
helm_bin="$HOME/.cache/lunanode-operator/bin"
if [ ! -x "$helm_bin/helm" ]; then
  GOBIN="$helm_bin" go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi
echo "$helm_bin"
