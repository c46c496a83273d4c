#!/usr/bin/env bash
# Density benchmark: N idle containers (`sleep infinity`, --network none; then M with bridge
# networking) under one bockerd. Measures the daemon's RSS growth per container (VmRSS before and
# after, target <= 32 KB) and its wakeups while idle (voluntary + involuntary context switches of
# every bockerd thread over S seconds, from /proc/PID/task/*/status; target 0).
# Beside it, with P containers each (these peers are heavy): docker (dockerd + containerd growth and
# one containerd-shim-runc-v2 per container) and podman (no daemon; one conmon per container).
# All containers are removed afterwards. Writes bench/results/density.{csv,md} and
# density.summary.csv.
#
# Usage: bench/density.sh [--count N] [--bridge-count M] [--peer-count P] [--idle S]
#                         [--engines bocker,docker,podman] [--parallel J] [--build-dir DIR]
#                         [--no-install] [--results DIR]
# Defaults: N=1000, M=250, P=50, S=10, J=4 (CLI calls in flight while starting containers).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/procs.sh
source "$here/bench/lib/procs.sh"
# shellcheck source=bench/lib/engines.sh
source "$here/bench/lib/engines.sh"

count=1000
bridge_count=250
peer_count=50
idle=10
parallel=4
engines=bocker,docker,podman
build=$here/build-release
install=1
results=$here/bench/results
while (($#)); do
  case $1 in
    --count) count=$2; shift 2 ;;
    --bridge-count) bridge_count=$2; shift 2 ;;
    --peer-count) peer_count=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --results) results=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "density.sh: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
for v in count bridge_count peer_count idle parallel; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { say "density.sh: --${v/_/-} needs a number, got '${!v}'"; exit 2; }
done
((parallel > 0)) || { say "density.sh: --parallel must be at least 1"; exit 2; }
[[ $(id -u) == 0 ]] || { say "density.sh: needs root"; exit 1; }
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  case $e in bocker | docker | podman) ;; *) say "density.sh: unknown engine '$e'"; exit 2 ;; esac
done
[[ -r $alpine_tar ]] || { say "density.sh: no Alpine rootfs at $alpine_tar (set ALPINE_TAR)"; exit 1; }
[[ " ${engine_list[*]} " == *" bocker "* ]] && ensure_bocker_build

work=$(mktemp -d /tmp/bocker-bench-density.XXXXXX)
trap 'engines_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
raw=$work/raw.csv
echo "engine,network,containers,running,daemon_rss0_kb,daemon_rss1_kb,helper_rss_kb,daemon_ctxsw,helper_ctxsw,idle_s,start_s" >"$raw"

# start_many ENGINE N NET: N detached idle containers, J CLI calls in flight; prints seconds taken.
start_many() {
  local e=$1 n=$2 net=$3 i t0 t1 args=(run -d)
  [[ $net == none ]] && args+=(--network none)
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    "${e}_cmd" "${args[@]}" "$bench_image" sleep infinity >/dev/null 2>>"$work/start-$e.err" &
    (($(jobs -rp | wc -l) >= parallel)) && wait -n || true
  done
  wait || true
  t1=$(now)
  elapsed "$t0" "$t1"
}
remove_all() {
  local e=$1 ids i
  mapfile -t ids < <("${e}_cmd" ps -aq)
  for ((i = 0; i < ${#ids[@]}; i += 100)); do
    "${e}_cmd" rm -f "${ids[@]:i:100}" >/dev/null 2>>"$work/rm-$e.err" || say "$e: rm -f: $(tail -1 "$work/rm-$e.err")"
  done
}
running() { "$1_cmd" ps -q | wc -l; }

# measure ENGINE NET N DAEMON_PIDS_FN HELPER_PIDS_FN: one pass; appends a row to raw.csv.
measure() {
  local e=$1 net=$2 n=$3 dfn=$4 hfn=$5 d0 d1 h c0 c1 hc0 hc1 s up dp hp
  dp=$($dfn)
  d0=$(rss_kb $dp)
  say "$e ($net): starting $n idle containers"
  s=$(start_many "$e" "$n" "$net")
  up=$(running "$e")
  ((up == n)) || say "$e ($net): only $up of $n running; first error: $(head -1 "$work/start-$e.err" 2>/dev/null)"
  sleep 3  # let the starts settle (reaped CLI connections, freed buffers)
  dp=$($dfn)
  hp=$($hfn)
  d1=$(rss_kb $dp)
  # shellcheck disable=SC2086
  h=$(rss_kb $hp)
  c0=$(ctxsw $dp)
  hc0=$(ctxsw $hp)
  sleep "$idle"
  c1=$(ctxsw $dp)
  hc1=$(ctxsw $hp)
  echo "$e,$net,$n,$up,$d0,$d1,$h,$((c1 - c0)),$((hc1 - hc0)),$idle,$s" >>"$raw"
  say "$e ($net): $up running; daemon RSS $d0 -> $d1 KiB ($(((d1 - d0) / (up > 0 ? up : 1))) KiB each), helpers $h KiB; idle ${idle}s: daemon $((c1 - c0)) context switches, helpers $((hc1 - hc0))"
  say "$e ($net): removing the containers"
  remove_all "$e"
  up=$(running "$e")
  ((up == 0)) || say "$e: $up containers still running after rm -f"
}

bocker_daemon_pids() { echo "$bocker_pid"; }
no_pids() { :; }
docker_daemon_pids() { echo "$docker_pid $(docker_containerd_pid)"; }

active=()
for e in "${engine_list[@]}"; do
  if "${e}_setup"; then active+=("$e"); else say "skipping $e: ${skip_reason[$e]}"; fi
done
((${#active[@]})) || { say "no engine could run"; exit 1; }
machine=$(machine_line)
say "machine: $machine"
for e in "${active[@]}"; do say "$e: ${version[$e]}"; done

for e in "${active[@]}"; do
  # Warm up each engine once (first-run allocations are not per container).
  "${e}_cmd" run --rm --network none "$bench_image" true >/dev/null 2>&1 || true
  case $e in
    bocker)
      ((count > 0)) && measure bocker none "$count" bocker_daemon_pids no_pids
      if ((bridge_count > 0)); then
        if [[ $bocker_net == bridge ]]; then
          measure bocker bridge "$bridge_count" bocker_daemon_pids no_pids
        else
          say "bocker: bridge networking not available: no bridge pass"
        fi
      fi
      ;;
    docker) ((peer_count > 0)) && measure docker none "$peer_count" docker_daemon_pids docker_shim_pids ;;
    podman) ((peer_count > 0)) && measure podman none "$peer_count" no_pids podman_conmon_pids ;;
  esac
done

mkdir -p "$results"
versions=$(for e in "${active[@]}"; do printf '%s\t%s\n' "$e" "${version[$e]}"; done)
python3 - "$here/bench/lib" "$raw" "$results" "$machine" "$versions" "$idle" <<'PY'
import csv, shutil, sys
sys.path.insert(0, sys.argv[1])
from benchstats import fmt, text_table, md_table, target_check, write_summary
raw, results, machine, versions, idle = sys.argv[2:]
versions = dict(l.split("\t", 1) for l in versions.splitlines() if l)
rows = list(csv.DictReader(open(raw)))
helper = {"bocker": "-", "docker": "containerd-shim-runc-v2", "podman": "conmon"}
daemon = {"bocker": "bockerd", "docker": "dockerd + containerd", "podman": "(no daemon)"}
table, summary = [], []
per = {}
for r in rows:
    e, net, up = r["engine"], r["network"], int(r["running"])
    d = (int(r["daemon_rss1_kb"]) - int(r["daemon_rss0_kb"])) / up if up else None
    h = int(r["helper_rss_kb"]) / up if up else None
    total = (d or 0) + (h or 0) if up else None
    per[(e, net)] = total
    wake = int(r["daemon_ctxsw"]) + int(r["helper_ctxsw"])
    table.append([e, net, f"{up}/{r['containers']}", daemon[e], fmt(int(r["daemon_rss0_kb"]) / 1024, "{:.1f}"),
                  fmt(int(r["daemon_rss1_kb"]) / 1024, "{:.1f}"), fmt(d, "{:.1f}"), helper[e], fmt(h, "{:.0f}"),
                  fmt(total, "{:.1f}"), r["daemon_ctxsw"], r["helper_ctxsw"], fmt(float(r["start_s"]), "{:.1f}")])
    is_b = e == "bocker"
    summary.append({"benchmark": f"density: memory per idle container ({net})", "engine": e, "unit": "KiB",
                    "median": None if total is None else round(total, 1), "n": up,
                    "target": "<= 32" if is_b else "", "met": target_check(total, "<=", 32) if is_b else "",
                    "note": f"daemon {fmt(d, '{:.1f}')} KiB + {helper[e]} {fmt(h, '{:.0f}')} KiB"})
    summary.append({"benchmark": f"density: idle wakeups in {idle} s ({net})", "engine": e, "unit": "context switches",
                    "median": wake, "n": up, "target": "0" if is_b else "",
                    "met": target_check(wake, "<=", 0) if is_b else "",
                    "note": f"daemon {r['daemon_ctxsw']} + helpers {r['helper_ctxsw']}"})
b = per.get(("bocker", "none"))
ratios = []
for peer in ("docker", "podman"):
    p = per.get((peer, "none"))
    if b is not None and p:
        ratios.append(f"bocker/{peer} memory per idle container (network none): {b / p:.4f} ({b:.1f} KiB vs {p:.0f} KiB)")
        for s in summary:
            if s["engine"] == peer and s["benchmark"].startswith("density: memory") and "(none)" in s["benchmark"]:
                s["ratio"], s["ratio_of"] = round(b / p, 5), f"bocker/{peer}"
head = [f"machine: {machine}", "containers: Alpine 3.20.3, `sleep infinity`, started detached; RSS is VmRSS; "
        f"wakeups are voluntary+involuntary context switches of every thread over {idle} s idle"]
head += [f"{e}: {v}" for e, v in versions.items()]
hdr = ["engine", "network", "running", "daemon", "daemon MiB before", "after", "daemon KiB/ctr", "helper",
       "helper KiB/ctr", "total KiB/ctr", f"daemon wakeups {idle}s", f"helper wakeups {idle}s", "start s"]
targets = []
for s in summary:
    if s["engine"] == "bocker" and s["target"]:
        targets.append(f"bocker {s['benchmark']}: {s['median']} {s['unit']} (target {s['target']}): {s['met']}")
print("\n" + "\n".join(head) + "\n")
print(text_table(hdr, table))
print("\n" + "\n".join(targets + ratios))
shutil.copy(raw, f"{results}/density.csv")
write_summary(f"{results}/density.summary.csv", summary)
with open(f"{results}/density.md", "w") as f:
    f.write("# Density benchmark (bench/density.sh)\n\n" + "\n".join(f"- {h}" for h in head) + "\n\n")
    f.write(md_table(hdr, table) + "\n\n" + "\n".join(f"- {t}" for t in targets + ratios) + "\n")
print(f"\nwrote {results}/density.csv, density.md and density.summary.csv")
PY
