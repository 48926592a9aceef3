#!/usr/bin/env bash
# Builds the operator's container image with no container engine and no registry, as an OCI
# archive that `ctr images import`, `podman load` or `skopeo copy oci-archive:...` read.
#
#   tools/image/build.sh [--binary PATH] [--tag TAG] [--out FILE]
#
# The contents are those of the Dockerfile's image (gcr.io/distroless/cc-debian12:nonroot plus
# the binary), taken from this machine's Debian packages instead of a base image:
#   /lunanode-operator                 the binary (default: `cargo build --release`), debug info
#                                      stripped
#   the shared libraries it links      glibc (libc6) and libgcc (libgcc-s1), found by ldd; the
#                                      build stops if one is not from a Debian package
#   /etc/ssl/certs/ca-certificates.crt the CA bundle of the ca-certificates package
#   /etc/passwd, /etc/group            root and nonroot (65532), no login shell
#   /tmp (1777), /home/nonroot (65532) and nothing else: no shell, no package manager
# and the same config: user 65532:65532, entrypoint /lunanode-operator, command
# `run --metrics-addr 0.0.0.0:8081`, port 8081, the Dockerfile's labels, distroless's PATH and
# SSL_CERT_FILE. tests/incluster.rs checks the two against each other.
# The image is named docker.io/library/lunanode-operator:TAG (TAG defaults to the crate's
# version), which is what the chart's default `image.repository` resolves to. It prints the
# archive's path and the manifest digest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

binary="" tag="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary wants a path}; shift 2 ;;
    --tag) tag=${2:?--tag wants a tag}; shift 2 ;;
    --out) out=${2:?--out wants a file}; shift 2 ;;
    *) echo "usage: build.sh [--binary PATH] [--tag TAG] [--out FILE]" >&2; exit 2 ;;
  esac
done
[ -n "$tag" ] || tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$out" ] || out="$root/target/lunanode-operator-$tag.oci.tar"
if [ -z "$binary" ]; then
  (cd "$root" && cargo build --release --locked --bin lunanode-operator)
  binary="${CARGO_TARGET_DIR:-$root/target}/release/lunanode-operator"
fi
[ -x "$binary" ] || { echo "build.sh: $binary is not an executable" >&2; exit 1; }
dpkg -s ca-certificates >/dev/null 2>&1 && [ -f /etc/ssl/certs/ca-certificates.crt ] ||
  { echo "build.sh: the ca-certificates package is needed (apt-get install ca-certificates)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$binary" "$work/lunanode-operator"
strip --strip-debug "$work/lunanode-operator"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$work/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$work/group"

files=(--file "$work/lunanode-operator:/lunanode-operator:0755"
  --file "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644"
  --file "$work/passwd:/etc/passwd:0644" --file "$work/group:/etc/group:0644"
  --dir "/tmp:1777" --dir "/home/nonroot:0700:65532")
# Each library the binary loads, at the path the loader looks for it, as a regular file.
while read -r path; do
  package=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1) || true
  [ -n "$package" ] || { echo "build.sh: $path (linked by the binary) is from no Debian package" >&2; exit 1; }
  files+=(--file "$(readlink -f "$path"):$path:0755")
done < <(ldd "$work/lunanode-operator" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')

cat > "$work/config.json" <<'JSON'
{
  "User": "65532:65532",
  "WorkingDir": "/home/nonroot",
  "Entrypoint": ["/lunanode-operator"],
  "Cmd": ["run", "--metrics-addr", "0.0.0.0:8081"],
  "ExposedPorts": {"8081/tcp": {}},
  "Env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
  ],
  "Labels": {
    "org.opencontainers.image.title": "lunanode-operator",
    "org.opencontainers.image.description": "Kubernetes operator for the Luna Node cloud",
    "org.opencontainers.image.licenses": "MIT"
  }
}
JSON
mkdir -p "$(dirname "$out")"
digest=$(python3 "$here/oci-image.py" --out "$out" --name "docker.io/library/lunanode-operator:$tag" \
  --config "$work/config.json" "${files[@]}")
echo "$out"
echo "$digest"
