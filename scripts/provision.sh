#!/usr/bin/env bash
# Provisioning for the Vagrant box (also runnable on any Debian 12 machine as root):
# packages, a Release build installed to /usr/local, a btrfs data root on a loop file, and
# bockerd as a systemd unit. Set BOCKER_PROVISION_NO_VM=1 to run only the parts that need no VM
# (install packages, build, install binaries and the unit file) — that is what CI checks.
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
bash scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOCKER_TESTS=OFF -DBOCKER_BENCH=OFF >/dev/null
cmake --build build-release --target bockerd bocker
prefix=${BOCKER_PREFIX:-/usr/local}
install -D -m 0755 build-release/src/daemon/bockerd "$prefix/bin/bockerd"
install -D -m 0755 build-release/src/cli/bocker "$prefix/bin/bocker"
unit_dir=${BOCKER_UNIT_DIR:-/etc/systemd/system}
install -D -m 0644 packaging/bockerd.service "$unit_dir/bockerd.service"
if [[ "${BOCKER_PROVISION_NO_VM:-0}" == 1 ]]; then
  echo "provision: built and installed to $prefix; skipped the btrfs root and systemd (BOCKER_PROVISION_NO_VM=1)"
  exit 0
fi
# The data root on btrfs: a 20 GiB sparse loop file mounted at /var/lib/bocker.
if ! mountpoint -q /var/lib/bocker; then
  mkdir -p /var/lib/bocker
  [[ -f /var/lib/bocker.img ]] || { truncate -s 20G /var/lib/bocker.img; mkfs.btrfs -q /var/lib/bocker.img; }
  grep -q '/var/lib/bocker.img' /etc/fstab || echo '/var/lib/bocker.img /var/lib/bocker btrfs loop 0 0' >>/etc/fstab
  mount /var/lib/bocker
fi
systemctl daemon-reload
systemctl enable --now bockerd.service
echo "provision: bockerd runs; metrics on http://127.0.0.1:9323/metrics"
