#!/usr/bin/env python3
"""Writes a one-layer OCI image archive (an OCI image layout in a tar, as `ctr images import`,
`podman load` and `skopeo copy oci-archive:` read it) from files on this machine, with no
container engine and no registry.

    oci-image.py --out IMAGE.tar --name NAME:TAG --config CONFIG.json \
        --file SRC:DEST[:MODE] ... [--dir DEST[:MODE[:UID]]] ... [--symlink DEST:TARGET] ...

CONFIG.json holds the image config's `config` object (User, Entrypoint, Cmd, Env, Labels,
ExposedPorts). The image is for this machine's architecture (the files come from it). Every
entry of the layer is owned by root (a folder by UID when given) with a modification time of 0,
in name order, and the gzip header carries no name or time, so the same inputs give the same
digests. The image's name goes in the index both as `io.containerd.image.name` (the full name
containerd imports) and as `org.opencontainers.image.ref.name` (the tag, for other tools).
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import sys
import tarfile


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True, help="the full name, e.g. docker.io/library/x:1")
    parser.add_argument("--config", required=True, help="a JSON file: the config object")
    parser.add_argument("--file", action="append", default=[], help="SRC:DEST[:MODE (octal)]")
    parser.add_argument("--dir", action="append", default=[], help="DEST[:MODE (octal)[:UID]]")
    parser.add_argument("--symlink", action="append", default=[], help="DEST:TARGET")
    return parser.parse_args()


def split_mode(spec, default):
    """`PATH[:MODE]` into the path and the mode (octal)."""
    path, _, mode = spec.partition(":")
    return path, int(mode, 8) if mode else default


# Go's names (the OCI platform's) for this machine's architecture.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
                 "s390x": "s390x", "riscv64": "riscv64"}


def layer_tar(files, dirs, symlinks):
    """The layer as an uncompressed tar: parent folders first, then every entry by name."""
    entries = {}

    def add_parents(dest):
        parts = dest.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            entries.setdefault(folder, ("dir", None, 0o755, 0))

    for spec in files:
        src, _, rest = spec.partition(":")
        dest, mode = split_mode(rest, None)
        if not src or not dest:
            sys.exit(f"oci-image.py: --file wants SRC:DEST[:MODE], got {spec!r}")
        if not os.path.isfile(src):
            sys.exit(f"oci-image.py: {src} is not a file")
        if mode is None:
            mode = os.stat(src).st_mode & 0o7777
        add_parents(dest)
        entries[dest.strip("/")] = ("file", src, mode, 0)
    for spec in dirs:
        dest, _, owner = spec.partition(":")
        mode, _, uid = owner.partition(":")
        add_parents(dest)
        entries[dest.strip("/")] = ("dir", None, int(mode, 8) if mode else 0o755, int(uid or 0))
    for spec in symlinks:
        dest, _, target = spec.partition(":")
        if not dest or not target:
            sys.exit(f"oci-image.py: --symlink wants DEST:TARGET, got {spec!r}")
        add_parents(dest)
        entries[dest.strip("/")] = ("symlink", target, 0o777, 0)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind, source, mode, uid = entries[name]
            info = tarfile.TarInfo(name)
            info.mode, info.mtime, info.uid, info.gid = mode, 0, uid, uid
            info.uname = info.gname = ""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, source
                tar.addfile(info)
            else:
                info.size = os.path.getsize(source)
                with open(source, "rb") as content:
                    tar.addfile(info, content)
    return buffer.getvalue()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def main():
    args = parse_args()
    machine = platform.machine()
    architecture = ARCHITECTURES.get(machine)
    if architecture is None:
        sys.exit(f"oci-image.py: no OCI name known for this machine's architecture {machine!r}")
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)

    layer = layer_tar(args.file, args.dir, args.symlink)
    diff_id, _ = blob(layer)
    layer_digest, layer_gz = blob(gzip.compress(layer, compresslevel=6, mtime=0))
    image_config = {
        "architecture": architecture,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tools/image/oci-image.py"}],
    }
    config_digest, config_bytes = blob(json.dumps(image_config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer_digest,
                "size": len(layer_gz),
            }
        ],
    }
    manifest_digest, manifest_bytes = blob(json.dumps(manifest, sort_keys=True).encode())
    tag = args.name.rsplit(":", 1)[1] if ":" in args.name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": {"architecture": architecture, "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": args.name,
                    "org.opencontainers.image.ref.name": tag,
                },
            }
        ],
    }

    members = [
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
        ("index.json", json.dumps(index, sort_keys=True).encode()),
    ]
    for digest, data in ((layer_digest, layer_gz), (config_digest, config_bytes),
                         (manifest_digest, manifest_bytes)):
        members.append(("blobs/sha256/" + digest.split(":", 1)[1], data))

    temporary = args.out + ".tmp"
    try:
        with tarfile.open(temporary, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for folder in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(folder)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                archive.addfile(info)
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                archive.addfile(info, io.BytesIO(data))
        os.replace(temporary, args.out)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    print(manifest_digest)


if __name__ == "__main__":
    main()
