#!/usr/bin/env bash
# Installs every Debian 12 package bocker's build, tests and benchmarks need.
# Idempotent: prints nothing and exits 0 when everything is already there.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  liburing-dev libcurl4-openssl-dev nlohmann-json3-dev libnl-3-dev libnl-route-3-dev
  libbtrfsutil-dev prometheus-cpp-dev libhttp-parser-dev libisal-dev libzstd-dev zlib1g-dev
  libssl-dev libseccomp-dev libnftables-dev libgtest-dev libgmock-dev libbenchmark-dev
)
TEST_PKGS=(
  prometheus docker-registry skopeo btrfs-progs iproute2 nftables curl nginx-light zstd openssl gzip tar
  python3 python3-matplotlib e2fsprogs util-linux procps ruby
)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
if [[ "${1:-}" == "--build-only" ]]; then want=("${BUILD_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Services shipped by these packages are started by the tests themselves, never by dpkg.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
