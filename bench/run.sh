#!/usr/bin/env bash
# Run benchmark: `run --rm IMAGE true` end to end (CLI to exit, bridge networking, cgroups) with
# bocker, docker (a private dockerd from Debian's docker.io) and podman (--runtime runc, private
# root) on the same Alpine image, in the same run. Rounds alternate the engines so background load
# hits them alike. Then C containers started at once per engine (containers/s).
# Prints median, p10/p90 and the ratios bocker/docker (target <= 1/15) and bocker/podman.
# Writes bench/results/run.{csv,md} and run.summary.csv.
#
# Usage: bench/run.sh [--reps N] [--warmup W] [--concurrent C] [--engines bocker,docker,podman]
#                     [--network bridge|none] [--build-dir DIR] [--no-install] [--results DIR]
# Needs root. Installs docker.io/podman from Debian when missing (unless --no-install).
# bocker is driven by `bocker run` when the CLI has it, else by the docker CLI against bockerd.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/procs.sh
source "$here/bench/lib/procs.sh"
# shellcheck source=bench/lib/engines.sh
source "$here/bench/lib/engines.sh"

reps=20
warmup=3
concurrent=100
engines=bocker,docker,podman
network=bridge
build=$here/build-release
install=1
results=$here/bench/results
while (($#)); do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --concurrent) concurrent=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --network) network=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --results) results=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "run.sh: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
for v in reps warmup concurrent; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { say "run.sh: --$v needs a number, got '${!v}'"; exit 2; }
done
((reps > 0)) || { say "run.sh: --reps must be at least 1"; exit 2; }
[[ $network == bridge || $network == none ]] || { say "run.sh: --network is bridge or none"; exit 2; }
[[ $(id -u) == 0 ]] || { say "run.sh: needs root (daemons, mounts, cgroups, bridges)"; exit 1; }
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  case $e in bocker | docker | podman) ;; *) say "run.sh: unknown engine '$e'"; exit 2 ;; esac
done
[[ -r $alpine_tar ]] || { say "run.sh: no Alpine rootfs at $alpine_tar (set ALPINE_TAR)"; exit 1; }
[[ " ${engine_list[*]} " == *" bocker "* ]] && ensure_bocker_build

work=$(mktemp -d /tmp/bocker-bench-run.XXXXXX)
trap 'engines_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

nobridge=()
[[ $network == none ]] && nobridge=(--no-bridge)
active=()
declare -A net
for e in "${engine_list[@]}"; do
  if "${e}_setup" "${nobridge[@]}"; then
    active+=("$e")
    v=${e}_net
    net[$e]=${!v}
  else
    say "skipping $e: ${skip_reason[$e]}"
  fi
done
((${#active[@]})) || { say "no engine could run"; exit 1; }
# When bocker has no bridge, its peers run once more with --network none: that is the fair pair.
variants=()
for e in "${active[@]}"; do
  variants+=("$e:${net[$e]}")
  if [[ $e != bocker && ${net[bocker]:-} == none && ${net[$e]} == bridge ]]; then variants+=("$e:none"); fi
done

machine=$(machine_line)
say "machine: $machine"
for e in "${active[@]}"; do say "$e: ${version[$e]} (network ${net[$e]})"; done
[[ -n ${net[bocker]:-} ]] && say "bocker driven by the $bocker_cli"

# run_one ENGINE NET: one `run --rm IMAGE true`.
run_one() {
  local args=(run --rm)
  [[ $2 == none ]] && args+=(--network none)
  "$1_cmd" "${args[@]}" "$bench_image" true
}

raw=$work/raw.csv
echo "engine,network,kind,rep,seconds,ok" >"$raw"
say "warm-up: $warmup runs per engine"
for ((r = 1; r <= warmup; r++)); do
  for v in "${variants[@]}"; do run_one "${v%%:*}" "${v#*:}" >/dev/null 2>&1 || true; done
done
for ((r = 1; r <= reps; r++)); do
  for v in "${variants[@]}"; do
    e=${v%%:*} n=${v#*:}
    t0=$(now)
    if run_one "$e" "$n" >"$work/out" 2>"$work/err"; then ok=1; else ok=0; fi
    t1=$(now)
    s=$(elapsed "$t0" "$t1")
    echo "$e,$n,single,$r,$s,$ok" >>"$raw"
    ((ok)) || say "round $r: $e ($n) FAILED: $(tail -2 "$work/err")"
  done
  say "round $r/$reps done: $(tail -n ${#variants[@]} "$raw" | cut -d, -f1,2,5 | tr '\n' ' ')"
done

if ((concurrent > 0)); then
  for v in "${variants[@]}"; do
    e=${v%%:*} n=${v#*:}
    say "$e ($n): $concurrent containers at once"
    t0=$(now)
    pids=()
    for ((i = 0; i < concurrent; i++)); do
      run_one "$e" "$n" >/dev/null 2>"$work/conc-$e-$n-$i.err" &
      pids+=($!)
    done
    okc=0
    for p in "${pids[@]}"; do wait "$p" && okc=$((okc + 1)); done
    t1=$(now)
    s=$(elapsed "$t0" "$t1")
    echo "$e,$n,concurrent,$concurrent,$s,$okc" >>"$raw"
    say "$e ($n): $okc/$concurrent ok in ${s}s"
    ((okc == concurrent)) || say "  first error: $(cat "$work"/conc-"$e"-"$n"-*.err | grep -v '^$' | head -1)"
  done
fi

mkdir -p "$results"
versions=$(for e in "${active[@]}"; do printf '%s\t%s\n' "$e" "${version[$e]}"; done)
skipped=$(for e in "${!skip_reason[@]}"; do printf '%s\t%s\n' "$e" "${skip_reason[$e]}"; done)
python3 - "$here/bench/lib" "$raw" "$results" "$machine" "$versions" "$skipped" "${bocker_cli:-}" \
  "$reps" "$warmup" <<'PY'
import csv, shutil, sys
sys.path.insert(0, sys.argv[1])
from benchstats import describe, fmt, text_table, md_table, target_check, write_summary
raw, results, machine, versions, skipped, bocker_cli, reps, warmup = sys.argv[2:]
versions = dict(l.split("\t", 1) for l in versions.splitlines() if l)
skipped = dict(l.split("\t", 1) for l in skipped.splitlines() if l)
rows = list(csv.DictReader(open(raw)))
single = [r for r in rows if r["kind"] == "single"]
conc = [r for r in rows if r["kind"] == "concurrent"]
variants = list(dict.fromkeys((r["engine"], r["network"]) for r in single))
stats = {v: describe([float(r["seconds"]) for r in single if (r["engine"], r["network"]) == v and r["ok"] == "1"])
         for v in variants}
fails = {v: sum(1 for r in single if (r["engine"], r["network"]) == v and r["ok"] != "1") for v in variants}
bnet = next((n for e, n in variants if e == "bocker"), None)
b = stats.get(("bocker", bnet), {}).get("median")

def label(e, n):
    return f"{e} run --rm ({n if n == 'bridge' else 'network none'})"

table, summary = [], []
for v in variants:
    s = stats[v]
    ratio = b / s["median"] if (b and s["median"] and v[0] != "bocker" and v[1] == bnet) else None
    table.append([label(*v), fmt(s["median"]), fmt(s["p10"]), fmt(s["p90"]), fmt(s["min"]), fmt(s["max"]),
                  f"{s['n']}/{s['n'] + fails[v]}", fmt(ratio)])
targets = []
for peer, limit in (("docker", 1 / 15), ("podman", None)):
    p = stats.get((peer, bnet), {}).get("median")
    r = b / p if (b and p) else None
    met = target_check(r, "<=", limit)
    if r is None:
        why = skipped.get(peer, "not run") if peer not in versions else "no successful run"
        targets.append(f"bocker/{peer}: not measured ({why})")
    else:
        t = f" (target <= 1/15 = {limit:.3f}): {met}" if limit else ""
        targets.append(f"bocker/{peer} = {r:.3f} = 1/{1 / r:.1f}, both {bnet}{t}")
for (e, n), s in stats.items():
    peer_r = None
    if e != "bocker" and b and s["median"] and n == bnet:
        peer_r = b / s["median"]
    summary.append({"benchmark": "run --rm true" + ("" if n == "bridge" else " (network none)"),
                    "engine": e, "unit": "s", "median": s["median"], "p10": s["p10"], "p90": s["p90"],
                    "n": s["n"], "ratio": None if peer_r is None else round(peer_r, 4),
                    "ratio_of": "" if peer_r is None else f"bocker/{e}",
                    "target": "<= 0.0667" if e == "docker" and peer_r is not None else "",
                    "met": target_check(peer_r, "<=", 1 / 15) if e == "docker" and peer_r is not None else ""})

ctable = []
cb = next((int(r["ok"]) / float(r["seconds"]) for r in conc if r["engine"] == "bocker"), None)
for r in conc:
    rate = int(r["ok"]) / float(r["seconds"])
    x = cb / rate if (cb and r["engine"] != "bocker" and rate and r["network"] == bnet) else None
    ctable.append([label(r["engine"], r["network"]), r["rep"], r["ok"], fmt(float(r["seconds"]), "{:.2f}"),
                   fmt(rate, "{:.1f}"), fmt(x, "{:.2f}")])
    summary.append({"benchmark": f"{r['rep']} concurrent run --rm true" + ("" if r["network"] == "bridge" else " (network none)"),
                    "engine": r["engine"], "unit": "containers/s", "median": round(rate, 2), "n": 1,
                    "ratio": None if x is None else round(x, 3), "ratio_of": "" if x is None else f"bocker/{r['engine']} (rate)",
                    "note": f"{r['ok']}/{r['rep']} ok"})

head = [f"machine: {machine}",
        f"image: Alpine 3.20.3 minirootfs, imported into each engine; command `true`",
        f"{reps} runs per engine after {warmup} warm-up runs, rounds alternate the engines; times are CLI start to exit"]
if bocker_cli:
    head.append(f"bocker driven by the {bocker_cli}")
head += [f"{e}: {v}" for e, v in versions.items()]
head += [f"{e}: skipped: {v}" for e, v in skipped.items()]
hdr = ["engine", "median s", "p10 s", "p90 s", "min s", "max s", "runs ok", "bocker/x"]
chdr = ["engine", "started", "ok", "wall s", "containers/s", "bocker/x rate"]
print("\n" + "\n".join(head) + "\n")
print(text_table(hdr, table))
print("\n" + "\n".join(targets))
if ctable:
    print("\n" + text_table(chdr, ctable))
shutil.copy(raw, f"{results}/run.csv")
write_summary(f"{results}/run.summary.csv", summary)
with open(f"{results}/run.md", "w") as f:
    f.write("# Run benchmark (bench/run.sh)\n\n" + "\n".join(f"- {h}" for h in head) + "\n\n")
    f.write(md_table(hdr, table) + "\n\n" + "\n".join(f"- {t}" for t in targets) + "\n")
    if ctable:
        f.write("\n## Containers started at once\n\n" + md_table(chdr, ctable) + "\n")
print(f"\nwrote {results}/run.csv, run.md and run.summary.csv")
PY
