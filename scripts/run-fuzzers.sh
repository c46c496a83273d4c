#!/usr/bin/env bash
# Runs every fuzz target in BUILD_DIR/tests/fuzz for SECONDS over a scratch copy of its corpus
# (tests/fuzz/corpus/<module>_<what>/ stays unchanged). Fails on the first crash.
set -euo pipefail
build=$(realpath "${1:?build dir}")
seconds=${2:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
shopt -s nullglob
count=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [[ -x $bin && -f $bin ]] || continue
  name=$(basename "$bin")
  corpus="$here/tests/fuzz/corpus/${name#fuzz_}"
  work="$scratch/$name"
  mkdir -p "$work"
  [[ -d $corpus ]] && cp -r "$corpus/." "$work/"
  echo "-- $name (${seconds}s)"
  (cd "$scratch" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 "$work" 2>&1 | tail -n 3)
  count=$((count + 1))
done
echo "fuzz: $count targets ran without a crash"
