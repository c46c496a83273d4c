#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with ASan+UBSan, runs every unit and
# integration test through CTest, then builds the libFuzzer targets with clang and runs each
# briefly over its corpus. Run as root (integration tests need namespaces, cgroups, btrfs).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

bash scripts/install-deps.sh
jobs=$(nproc)

echo "== build (Debug, ASan+UBSan): build-asan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBOCKER_SANITIZE=ON -DBOCKER_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"

echo "== tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest_log=$(mktemp)
trap 'rm -f "$ctest_log"' EXIT
ctest --test-dir build-asan --output-on-failure -j 1 --timeout 900 | tee "$ctest_log"

if [[ "${BOCKER_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz (clang, libFuzzer, ${BOCKER_FUZZ_SECONDS:-20}s per target): build-fuzz"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBOCKER_FUZZ=ON \
    -DBOCKER_TESTS=OFF -DBOCKER_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j "$jobs"
  bash scripts/run-fuzzers.sh build-fuzz "${BOCKER_FUZZ_SECONDS:-20}"
fi
echo "== packaging"
ruby -c Vagrantfile >/dev/null && echo "Vagrantfile: syntax OK"
bash -n scripts/provision.sh && echo "provision.sh: syntax OK"
# The Vagrant box's provisioning without the VM parts: packages, the Release build, binaries and
# the unit file installed, into a scratch prefix (not /usr/local, not /etc/systemd).
prov=$(mktemp -d)
trap 'rm -f "$ctest_log"; rm -rf "$prov"' EXIT
BOCKER_PROVISION_NO_VM=1 BOCKER_PREFIX="$prov/usr" BOCKER_UNIT_DIR="$prov/systemd" bash scripts/provision.sh
"$prov/usr/bin/bockerd" --version
"$prov/usr/bin/bocker" --help >/dev/null
test -f "$prov/systemd/bockerd.service"
if command -v systemd-analyze >/dev/null; then
  # The unit as installed, its ExecStart pointed at the binary just built.
  sed "s|/usr/local/bin/bockerd|$prov/usr/bin/bockerd|" packaging/bockerd.service >"$prov/bockerd.service"
  systemd-analyze verify "$prov/bockerd.service" && echo "bockerd.service: systemd-analyze verify OK"
fi
echo "provision.sh (BOCKER_PROVISION_NO_VM=1): built, installed and ran in $prov"
# The plain closing line: CTest's counts (a skipped test counts as passed by CTest).
total=$(sed -n 's/.* tests failed out of \([0-9]*\).*/\1/p' "$ctest_log" | tail -n 1)
failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of .*/\1/p' "$ctest_log" | tail -n 1)
skipped=$(grep -c '\*\*\*Skipped' "$ctest_log" || true)
echo "== all tests passed"
echo "$((total - failed - skipped)) passed, ${failed} failed, ${skipped} skipped"
