#!/usr/bin/env bash
# Quick start: install what is missing, build a Release bocker, start bockerd on its defaults
# (root /var/lib/bocker, socket unix:///run/bocker.sock, metrics on 127.0.0.1:9323) and drive it.
# Needs no registry and no internet.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOCKER_TESTS=OFF >/dev/null
cmake --build build-release -j "$(nproc)" --target bockerd bocker
bin=$here/build-release/src
export PATH=$bin/daemon:$bin/cli:$PATH

# The CLI starts bockerd in the background when no daemon answers.
bocker version
bocker info
echo
# An image from a local root filesystem (bocker's `init`): the Alpine minirootfs from shared/.
rootfs_tar=${BOCKER_ROOTFS_TAR:-$here/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}
if [[ -f $rootfs_tar ]]; then
  bocker import "$rootfs_tar" alpine:quickstart
  bocker images
  bocker image inspect --format '{{.RootFS}}' alpine:quickstart 2>/dev/null || true
fi
echo
echo "metrics:"; curl -s http://127.0.0.1:9323/metrics | grep -E '^bocker_(build_info|loop_iterations_total|http_requests_total)' | head -5
if command -v docker >/dev/null; then
  echo; echo "the docker CLI talks to bockerd too:"
  DOCKER_HOST=unix:///run/bocker.sock docker version --format 'server {{.Server.Version}} API {{.Server.APIVersion}}'
  if [[ -f $rootfs_tar ]]; then
    DOCKER_HOST=unix:///run/bocker.sock docker run --rm --memory 64m alpine:quickstart \
      sh -c 'echo "hello from PID $$ in container $(hostname)"'
  fi
fi
echo
echo "bockerd keeps running (pid $(cat /var/lib/bocker/bockerd.pid 2>/dev/null || echo ?)); stop it with: kill \$(cat /var/lib/bocker/bockerd.pid)"
