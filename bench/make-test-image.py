#!/usr/bin/env python3
"""Builds the pull benchmark's test image as an OCI image layout, by hand.

Layers (all gzip, deterministic: fixed seeds, mtime 0, uid/gid 0, so a rerun gives the same digests):
  1. the Alpine minirootfs tarball, used as it is (a distro rootfs, ~3.5 MB compressed);
  2..1+N. N layers of incompressible data: FILES files of pseudo-random bytes per layer, MB each,
     gzip level 1 (the compressed blob stays about as big as the data);
  last. a compressible layer: generated text lines (log-like), gzip level 6.

Usage: make-test-image.py OUT_DIR [--rootfs TGZ] [--random-layers 4] [--random-mb 40]
                          [--text-mb 32] [--ref mixed]
Writes OUT_DIR/{oci-layout,index.json,blobs/sha256/*} and prints a JSON summary on stdout.
An existing OUT_DIR with a matching summary.json is reused as it is (the cache).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile

CHUNK = 1 << 20


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what goes through, then passes it on."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.h = hashlib.sha256()
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        if self.out is not None:
            self.out.write(b)
        return len(b)


def put_blob(blobs, data_path):
    """Moves a finished file into blobs/sha256/<hex>; returns (digest, size)."""
    h = hashlib.sha256()
    size = 0
    with open(data_path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
            size += len(b)
    dst = os.path.join(blobs, h.hexdigest())
    os.replace(data_path, dst)
    return "sha256:" + h.hexdigest(), size


def put_bytes(blobs, data):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(data)
    return "sha256:" + hexd, len(data)


def tar_info(name, size, mode=0o644, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = mode
    ti.type = kind
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


class StreamReader(io.RawIOBase):
    """A readable file of `size` bytes produced by a generator function gen(n) -> bytes."""

    def __init__(self, size, gen):
        super().__init__()
        self.left = size
        self.gen = gen

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left)
        if n == 0:
            return 0
        b = self.gen(n)
        buf[:n] = b
        self.left -= n
        return n


def build_layer(blobs, tmpdir, level, entries):
    """entries: list of (dir_names, [(file_name, size, gen)]). Writes a tar.gz blob.
    Returns (digest, size, diff_id)."""
    fd, path = tempfile.mkstemp(dir=tmpdir)
    with os.fdopen(fd, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0, filename="") as gz:
            hw = HashingWriter(gz)
            bw = io.BufferedWriter(hw, CHUNK)
            with tarfile.open(fileobj=bw, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for dirs, files in entries:
                    for d in dirs:
                        tf.addfile(tar_info(d, 0, 0o755, tarfile.DIRTYPE))
                    for name, size, gen in files:
                        tf.addfile(tar_info(name, size), io.BufferedReader(StreamReader(size, gen), CHUNK))
            bw.flush()
            diff_id = "sha256:" + hw.h.hexdigest()
    digest, size = put_blob(blobs, path)
    return digest, size, diff_id


def gunzip_digest(path):
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


WORDS = ("container image layer registry manifest digest blob pull push daemon kernel overlay btrfs "
         "namespace cgroup socket request response header chunk gzip tar config rootfs snapshot mount "
         "error warning info debug GET PUT HEAD 200 201 404 sha256 alpine debian linux amd64").split()


def text_gen(seed):
    rnd = random.Random(seed)
    pending = bytearray()
    line_no = 0

    def gen(n):
        nonlocal pending, line_no
        while len(pending) < n:
            line_no += 1
            words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 16)))
            pending += f"2024-05-{1 + line_no % 28:02d}T12:{line_no % 60:02d}:{(line_no * 7) % 60:02d}Z [{line_no}] {words}\n".encode()
        out, pending = bytes(pending[:n]), pending[n:]
        return out

    return gen


def random_gen(seed):
    rnd = random.Random(seed)
    return lambda n: rnd.randbytes(n)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_rootfs = os.path.join(here, "..", "..", "shared", "images", "alpine-minirootfs-3.20.3-x86_64.tar.gz")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rootfs", default=os.path.normpath(default_rootfs))
    ap.add_argument("--random-layers", type=int, default=4)
    ap.add_argument("--random-mb", type=int, default=40)
    ap.add_argument("--files-per-layer", type=int, default=4)
    ap.add_argument("--text-mb", type=int, default=32)
    ap.add_argument("--ref", default="mixed")
    a = ap.parse_args()

    params = {"rootfs": os.path.basename(a.rootfs), "random_layers": a.random_layers, "random_mb": a.random_mb,
              "files_per_layer": a.files_per_layer, "text_mb": a.text_mb, "ref": a.ref, "version": 1}
    summary_path = os.path.join(a.out, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            old = json.load(f)
        if old.get("params") == params and all(
                os.path.exists(os.path.join(a.out, "blobs", "sha256", d.split(":")[1])) for d in old["blobs"]):
            old["cached"] = True
            print(json.dumps(old))
            return
    if not os.path.isfile(a.rootfs):
        sys.exit(f"make-test-image: rootfs tarball {a.rootfs} does not exist")

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    blobs = os.path.join(a.out, "blobs", "sha256")
    os.makedirs(blobs)
    tmpdir = a.out

    layers = []  # (digest, size, diff_id)
    # 1. the distro rootfs, as shipped.
    fd, tmp = tempfile.mkstemp(dir=tmpdir)
    os.close(fd)
    shutil.copyfile(a.rootfs, tmp)
    diff = gunzip_digest(tmp)
    d, s = put_blob(blobs, tmp)
    layers.append((d, s, diff))
    # 2. incompressible layers.
    per_file = a.random_mb * (1 << 20) // a.files_per_layer
    for i in range(a.random_layers):
        files = [(f"data/l{i}/blob{j}.bin", per_file, random_gen(1000 * i + j)) for j in range(a.files_per_layer)]
        layers.append(build_layer(blobs, tmpdir, 1, [(["data", f"data/l{i}"], files)]))
    # 3. a compressible text layer.
    if a.text_mb > 0:
        n = 8
        per = a.text_mb * (1 << 20) // n
        files = [(f"var/log/bench/app{j}.log", per, text_gen(7000 + j)) for j in range(n)]
        layers.append(build_layer(blobs, tmpdir, 6, [(["var", "var/log", "var/log/bench"], files)]))

    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [l[2] for l in layers]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench layer {i}"} for i in range(len(layers))],
    }
    cfg_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    cfg_digest, cfg_size = put_bytes(blobs, cfg_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                   for d, s, _ in layers],
    }
    man_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    man_digest, man_size = put_bytes(blobs, man_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest,
                       "size": man_size, "annotations": {"org.opencontainers.image.ref.name": a.ref}}],
    }
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    summary = {
        "params": params,
        "manifest": man_digest,
        "layers": [{"digest": d, "size": s, "diff_id": x} for d, s, x in layers],
        "compressed_bytes": sum(s for _, s, _ in layers),
        "blobs": [d for d, _, _ in layers] + [cfg_digest, man_digest],
    }
    with open(summary_path, "w") as f:
        json.dump(summary, f)
    summary["cached"] = False
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
