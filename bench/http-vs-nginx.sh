#!/usr/bin/env bash
# GET /_ping over a unix socket: bockerd beside nginx (one worker, `return 200 "OK"`), same load
# generator, same connections and duration. Prints both and the ratio nginx/bocker (target <= 1.5).
# Runs ROUNDS alternating rounds (bocker, nginx, bocker, ...) and reports medians, so a burst of
# other load on the machine hits both servers alike. Each round also records the hypervisor steal
# time during it (bench/lib/steal.sh); a median above 10% prints a "host contended" warning.
# Usage: bench/http-vs-nginx.sh [BUILD_DIR (Release)] [SECONDS] [CONNECTIONS] [ROUNDS] [RESULTS_DIR]
# With RESULTS_DIR, also writes RESULTS_DIR/http.md and http.summary.csv (for bench/run-all).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/steal.sh
source "$here/bench/lib/steal.sh"
build=${1:-$here/build-release}
seconds=${2:-5}
conns=${3:-32}
rounds=${4:-3}
results=${5:-}
command -v nginx >/dev/null || { echo "nginx missing: bash scripts/install-deps.sh" >&2; exit 1; }
[[ -x $build/bench/http_load && -x $build/src/daemon/bockerd ]] || {
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOCKER_TESTS=OFF >/dev/null
  cmake --build "$build" --target http_load bockerd >/dev/null
}
work=$(mktemp -d /tmp/bocker-bench-http.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server {
    listen unix:$work/nginx.sock;
    location = /_ping { default_type text/plain; return 200 "OK"; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)
"$build/src/daemon/bockerd" --root "$work/root" --host "unix://$work/bocker.sock" --metrics-addr "" --bridge none 2>"$work/bockerd.log" & pids+=($!)
for _ in $(seq 100); do [[ -S $work/nginx.sock && -S $work/bocker.sock ]] && break; sleep 0.05; done

nginx_pid=${pids[0]}
bocker_pid=${pids[1]}
# CPU seconds (user+system) a process has used, from /proc/PID/stat.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
load() { "$build/bench/http_load" --unix "$1" --path /_ping -c "$conns" -d "$seconds" --json; }
# measure NAME SOCKET PID: the load result plus the server's CPU seconds and the host's steal % during it.
measure() {
  local c0 c1 s0 s1 out
  s0=$(steal_sample); c0=$(cpu "$3"); out=$(load "$2"); c1=$(cpu "$3"); s1=$(steal_sample)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["cpu_s"]=float(sys.argv[3])-float(sys.argv[2]); r["steal_pct"]=float(sys.argv[4]); print(json.dumps(r))' \
    "$out" "$c0" "$c1" "$(steal_pct "$s0" "$s1")"
}
load "$work/bocker.sock" >/dev/null  # warm-up
load "$work/nginx.sock" >/dev/null
b=() n=()
for _ in $(seq "$rounds"); do
  b+=("$(measure bocker "$work/bocker.sock" "$bocker_pid")")
  n+=("$(measure nginx "$work/nginx.sock" "$nginx_pid")")
done
python3 - "$(printf '%s\n' "${b[@]}")" "$(printf '%s\n' "${n[@]}")" "$conns" "$seconds" "$rounds" "$results" "$here/bench/lib" \
  "$("$build/src/daemon/bockerd" --version 2>&1 | head -1)" "$(nginx -v 2>&1)" "$STEAL_WARN_PCT" <<'PY'
import json, statistics, sys
def pct(v, q):
    v = sorted(v)
    k = (len(v) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
def median_of(lines):
    runs = [json.loads(l) for l in lines.strip().splitlines()]
    for r in runs:
        r['cpu_us_per_req'] = 1e6 * r['cpu_s'] / r['requests'] if r['requests'] else float('inf')
    out = {k: statistics.median(r[k] for r in runs) for k in ('rps', 'p50_us', 'p99_us', 'cpu_us_per_req', 'steal_pct')}
    out['errors'] = sum(r['errors'] for r in runs)
    out['spread'] = (min(r['rps'] for r in runs), max(r['rps'] for r in runs))
    out['steal_spread'] = (min(r['steal_pct'] for r in runs), max(r['steal_pct'] for r in runs))
    out['p10_rps'] = pct([r['rps'] for r in runs], 10)
    out['p90_rps'] = pct([r['rps'] for r in runs], 90)
    out['n'] = len(runs)
    return out
b, n = median_of(sys.argv[1]), median_of(sys.argv[2])
print(f"medians of {sys.argv[5]} alternating rounds; req/s spread bocker {b['spread'][0]:.0f}-{b['spread'][1]:.0f}, nginx {n['spread'][0]:.0f}-{n['spread'][1]:.0f}")
print(f"host steal per round: bocker {b['steal_spread'][0]:.1f}-{b['steal_spread'][1]:.1f}%, nginx {n['steal_spread'][0]:.1f}-{n['steal_spread'][1]:.1f}% of CPU time")
print(f"GET /_ping over a unix socket, {sys.argv[3]} keep-alive connections, {sys.argv[4]} s each, 1 server thread/worker")
print(f"{'server':<8} {'req/s':>10} {'p50 us':>9} {'p99 us':>9} {'server CPU us/req':>18} {'errors':>7} {'steal %':>8}")
for name, r in (("bocker", b), ("nginx", n)):
    print(f"{name:<8} {r['rps']:>10.0f} {r['p50_us']:>9.1f} {r['p99_us']:>9.1f} {r['cpu_us_per_req']:>18.2f} {r['errors']:>7} {r['steal_pct']:>8.1f}")
# Hypervisor steal (median per server of each round's steal % of all CPUs' time, bench/lib/steal.sh).
steal_warn = float(sys.argv[10])
worst = max(b['steal_pct'], n['steal_pct'])
warning = (f"host contended: steal {worst:.1f}% — figures unreliable; rerun when quiet"
           if worst > steal_warn else "")
if warning:
    print(f"WARNING: {warning}")
ratio = n['rps'] / b['rps'] if b['rps'] else float('inf')
cpu_ratio = b['cpu_us_per_req'] / n['cpu_us_per_req'] if n['cpu_us_per_req'] else float('inf')
print(f"nginx/bocker requests/s ratio: {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
print(f"bocker/nginx server CPU per request: {cpu_ratio:.2f} (the same comparison, insensitive to other load on the machine)")
results, lib, bver, nver = sys.argv[6:10]
if results:
    sys.path.insert(0, lib)
    from benchstats import write_summary, target_check
    rows = []
    for name, r in (("bocker", b), ("nginx", n)):
        rows.append({"benchmark": "http GET /_ping (unix socket)", "engine": name, "unit": "req/s",
                     "median": round(r['rps']), "p10": round(r['p10_rps']), "p90": round(r['p90_rps']), "n": r['n'],
                     "ratio": round(ratio, 3) if name == "nginx" else None,
                     "ratio_of": "nginx/bocker (req/s)" if name == "nginx" else "",
                     "target": "<= 1.5" if name == "nginx" else "",
                     "met": target_check(ratio, "<=", 1.5) if name == "nginx" else "",
                     "note": f"{r['cpu_us_per_req']:.2f} us server CPU/req, p99 {r['p99_us']:.0f} us, host steal {r['steal_pct']:.1f}%"})
    write_summary(f"{results}/http.summary.csv", rows)
    with open(f"{results}/http.md", "w") as f:
        f.write("# HTTP benchmark (bench/http-vs-nginx.sh)\n\n")
        f.write(f"- bocker: {bver}\n- nginx: {nver.replace('nginx version: ', '')}\n")
        f.write(f"- {sys.argv[5]} alternating rounds, {sys.argv[3]} keep-alive connections, {sys.argv[4]} s each\n\n")
        if warning:
            f.write(f"**{warning}**\n\n")
        f.write("| server | req/s | p50 us | p99 us | server CPU us/req | errors | host steal % |\n|---|---|---|---|---|---|---|\n")
        for name, r in (("bocker", b), ("nginx", n)):
            f.write(f"| {name} | {r['rps']:.0f} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['cpu_us_per_req']:.2f} | {r['errors']} | {r['steal_pct']:.1f} |\n")
        f.write(f"\n- nginx/bocker requests/s: {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'})\n")
        f.write(f"- bocker/nginx server CPU per request: {cpu_ratio:.2f}\n")
        f.write(f"- host steal (hypervisor): median of the rounds' steal % of all CPUs' time, warning above {steal_warn:g}%\n")
    print(f"wrote {results}/http.md and http.summary.csv")
PY
