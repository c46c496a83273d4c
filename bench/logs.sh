#!/usr/bin/env bash
# Log capture benchmark: a container writes SIZE MB of 80-character lines to stdout and the
# engine captures them to disk: bocker beside docker's json-file log driver, in the same run,
# rounds alternating. Writers (--writer): dd (default) copies a file of lines on tmpfs,
# bind-mounted read-only, to stdout with 64 KiB write(2)s, as a program with a stdio buffer
# does; cat is busybox cat of that file, which uses sendfile(2): the pipe gets references to the
# file's pages, no copy, so no capture that copies into a file can keep up with it; yes is
# busybox's `yes LINE | head -c SIZE`, slower than either engine's capture is meant to be.
# The capture rate is SIZE / (FinishedAt - StartedAt) from inspect (the writer cannot finish
# before the pipe is drained), with wall time (run -d to wait) beside it. Target: bocker >= 20x
# docker. To show the writer, not the daemon, is the bottleneck, the captured writer runs under
# busybox `time` (busy ~100% of its run: it never waited for the engine), each round also runs
# the same writer into /dev/null inside a container of the same engine (the writer's own rate),
# and the daemon's CPU time during the capture is read from /proc/PID/stat (docker: dockerd +
# containerd + the container's
# shim). Writes bench/results/logs.{csv,md} and logs.summary.csv.
#
# Usage: bench/logs.sh [--mb SIZE] [--reps N] [--engines bocker,docker] [--build-dir DIR]
#                      [--writer dd|cat|yes] [--no-install] [--results DIR]
# Defaults: SIZE=512, N=3, writer dd.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/procs.sh
source "$here/bench/lib/procs.sh"
# shellcheck source=bench/lib/engines.sh
source "$here/bench/lib/engines.sh"

mb=512
reps=3
engines=bocker,docker
build=$here/build-release
install=1
writer_kind=dd
results=$here/bench/results
while (($#)); do
  case $1 in
    --mb) mb=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --writer) writer_kind=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "logs.sh: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
[[ $mb =~ ^[1-9][0-9]*$ ]] || { say "logs.sh: --mb needs a positive number, got '$mb'"; exit 2; }
[[ $writer_kind =~ ^(dd|cat|yes)$ ]] || { say "logs.sh: --writer is dd, cat or yes, got '$writer_kind'"; exit 2; }
[[ $reps =~ ^[1-9][0-9]*$ ]] || { say "logs.sh: --reps needs a positive number, got '$reps'"; exit 2; }
[[ $(id -u) == 0 ]] || { say "logs.sh: needs root"; exit 1; }
IFS=, read -r -a engine_list <<<"$engines"
for e in "${engine_list[@]}"; do
  case $e in bocker | docker) ;; *) say "logs.sh: unknown engine '$e' (bocker, docker)"; exit 2 ;; esac
done
[[ -r $alpine_tar ]] || { say "logs.sh: no Alpine rootfs at $alpine_tar (set ALPINE_TAR)"; exit 1; }
[[ " ${engine_list[*]} " == *" bocker "* ]] && ensure_bocker_build

work=$(mktemp -d /tmp/bocker-bench-logs.XXXXXX)
shm=$(mktemp -d /dev/shm/bocker-bench-logs.XXXXXX)
trap 'engines_cleanup; rm -rf "$work" "$shm"' EXIT
trap 'exit 130' INT TERM

bytes=$((mb * 1048576))
line="bocker log capture benchmark: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ"  # 79 + \n
if [[ $writer_kind != yes ]]; then
  # The lines in a file on tmpfs, mounted read-only. dd reads and writes it 64 KiB at a time;
  # busybox cat sends it with sendfile(2). Writer alone: the same into a pipe a second cat drains.
  python3 -c 'import sys
line = (sys.argv[2] + "\n").encode(); n = int(sys.argv[3]); blk = line * 8192
with open(sys.argv[1], "wb") as f:
    while n > 0:
        f.write(blk[:n]); n -= len(blk)' "$shm/lines" "$line" "$bytes"
  if [[ $writer_kind == dd ]]; then
    writer="dd if=/lines bs=65536 2>/dev/null"
  else
    writer="cat /lines"
  fi
  writer_alone="$writer | cat"
  writer_args=(-v "$shm/lines:/lines:ro")
else
  writer="yes '$line' | head -c $bytes"
  writer_alone=$writer
  writer_args=()
fi
# The captured writer runs under busybox `time`, which leaves its elapsed, user and system
# seconds in /out/w: a writer busy ~100% of its run never waited for the engine to drain the
# pipe, so the writer, not the engine, set the pace.
mkdir -p "$shm/out"
printf '%s\n' "$writer" >"$shm/out/writer.sh"
writer_args+=(-v "$shm/out:/out")
timed_writer="time -f '%e %U %S' -o /out/w sh /out/writer.sh"

active=()
for e in "${engine_list[@]}"; do
  if "${e}_setup" --no-bridge; then active+=("$e"); else say "skipping $e: ${skip_reason[$e]}"; fi
done
((${#active[@]})) || { say "no engine could run"; exit 1; }
machine=$(machine_line)
say "machine: $machine"
for e in "${active[@]}"; do say "$e: ${version[$e]}"; done

daemon_pids() {
  case $1 in
    bocker) echo "$bocker_pid" ;;
    docker) echo "$docker_pid $(docker_containerd_pid) $(docker_shim_pids | tr '\n' ' ')" ;;
  esac
}
# iso8601 -> epoch seconds (fractional); empty when unparsable or zero.
epoch() { python3 -c '
import sys, datetime
t = sys.argv[1].strip()
if not t or t.startswith("0001-"):
    sys.exit(0)
d, _, frac = t.rstrip("Z").partition(".")
base = datetime.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
print("%.6f" % (base + float("0." + (frac or "0"))))' "$1"; }

# one ENGINE KIND REP: KIND is capture (stdout to the engine) or devnull (writer only).
one() {
  local e=$1 kind=$2 rep=$3 cmd=$timed_writer id t0 t1 c0 c1 st fi dur logb lp code wcpu=""
  [[ $kind == devnull ]] && cmd="$writer_alone >/dev/null"
  rm -f "$shm/out/w"
  c0=$(cpu_s $(daemon_pids "$e"))
  t0=$(now)
  # Same CPU weight for both: bocker's default share (BOCKER_CPU_SHARE) is 512, docker's 1024.
  id=$("${e}_cmd" run -d --network none --cpu-shares 1024 "${writer_args[@]}" "$bench_image" sh -c "$cmd")
  code=$("${e}_cmd" wait "$id")
  t1=$(now)
  c1=$(cpu_s $(daemon_pids "$e"))  # docker's shim lives until rm: its CPU is counted
  st=$(epoch "$("${e}_cmd" inspect -f '{{.State.StartedAt}}' "$id")")
  fi=$(epoch "$("${e}_cmd" inspect -f '{{.State.FinishedAt}}' "$id")")
  if [[ -n $st && -n $fi ]]; then dur=$(python3 -c "print(f'{$fi - $st:.3f}')"); else dur=""; fi
  logb=0
  if [[ $kind == capture ]]; then
    lp=$("${e}_cmd" inspect -f '{{.LogPath}}' "$id" 2>/dev/null || true)
    if [[ -n $lp && -f $lp ]]; then
      logb=$(du -b --apparent-size "$lp"* | awk '{s += $1} END {print s + 0}')
    elif [[ $e == bocker ]]; then
      logb=$(find "$work/bocker-root" -path "*$id*" -type f -name '*log*' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    fi
  fi
  if [[ $kind == capture && -s $shm/out/w ]]; then
    wcpu=$(awk '$1 > 0 {printf "%.0f", 100 * ($2 + $3) / $1}' "$shm/out/w")
  fi
  "${e}_cmd" rm -f "$id" >/dev/null
  local wall cpu
  wall=$(elapsed "$t0" "$t1")
  cpu=$(python3 -c "print(f'{$c1 - $c0:.2f}')")
  echo "$e,$kind,$rep,$wall,$dur,$cpu,$logb,$code,$wcpu" >>"$raw"
  say "round $rep: $e $kind: wall ${wall}s, StartedAt..FinishedAt ${dur:-?}s, daemon CPU ${cpu}s, log ${logb} bytes, exit $code${wcpu:+, writer CPU $wcpu%}"
}

raw=$work/raw.csv
echo "engine,kind,rep,wall_s,run_s,daemon_cpu_s,log_bytes,exit,writer_cpu_pct" >"$raw"
for ((r = 1; r <= reps; r++)); do
  for e in "${active[@]}"; do
    one "$e" devnull "$r"
    one "$e" capture "$r"
  done
done

mkdir -p "$results"
versions=$(for e in "${active[@]}"; do printf '%s\t%s\n' "$e" "${version[$e]}"; done)
python3 - "$here/bench/lib" "$raw" "$results" "$machine" "$versions" "$bytes" "$reps" "$writer_kind" <<'PY'
import csv, shutil, sys
sys.path.insert(0, sys.argv[1])
from benchstats import describe, fmt, text_table, md_table, target_check, write_summary
raw, results, machine, versions, nbytes, reps, writer_kind = sys.argv[2:]
versions = dict(l.split("\t", 1) for l in versions.splitlines() if l)
nbytes = int(nbytes)
mbytes = nbytes / 1e6
rows = list(csv.DictReader(open(raw)))
engines = list(dict.fromkeys(r["engine"] for r in rows))

def dur(r):  # the container's own run time when inspect gave it, else the wall time
    return float(r["run_s"]) if r["run_s"] else float(r["wall_s"])

st = {}
for e in engines:
    for kind in ("capture", "devnull"):
        rs = [r for r in rows if r["engine"] == e and r["kind"] == kind and r["exit"] == "0"]
        st[(e, kind)] = {"rate": describe([mbytes / dur(r) for r in rs]),
                         "cpu": describe([float(r["daemon_cpu_s"]) for r in rs]),
                         "wall": describe([float(r["wall_s"]) for r in rs]),
                         "log": describe([int(r["log_bytes"]) for r in rs]),
                         "dur": describe([dur(r) for r in rs]),
                         "wcpu": describe([float(r["writer_cpu_pct"]) for r in rs if r.get("writer_cpu_pct")])}
b = st.get(("bocker", "capture"), {}).get("rate", {}).get("median")
d = st.get(("docker", "capture"), {}).get("rate", {}).get("median")
ratio = b / d if (b and d) else None
hdr = ["engine", "stdout to", "MB/s median", "p10", "p90", "run s", "wall s", "daemon CPU s", "daemon CPU %",
       "log on disk MB", "of writer rate", "writer CPU %"]
table, summary = [], []
for e in engines:
    w = st[(e, "devnull")]["rate"]["median"]
    for kind in ("capture", "devnull"):
        s = st[(e, kind)]
        cpu_pct = 100 * s["cpu"]["median"] / s["dur"]["median"] if s["dur"]["median"] else None
        of_w = s["rate"]["median"] / w if (w and s["rate"]["median"]) else None
        table.append([e, "engine log" if kind == "capture" else "/dev/null (writer only)",
                      fmt(s["rate"]["median"], "{:.0f}"), fmt(s["rate"]["p10"], "{:.0f}"), fmt(s["rate"]["p90"], "{:.0f}"),
                      fmt(s["dur"]["median"], "{:.2f}"), fmt(s["wall"]["median"], "{:.2f}"),
                      fmt(s["cpu"]["median"], "{:.2f}"), fmt(cpu_pct, "{:.0f}"),
                      fmt(s["log"]["median"] / 1e6, "{:.0f}") if kind == "capture" else "-",
                      fmt(of_w, "{:.2f}"), fmt(s["wcpu"]["median"], "{:.0f}") if kind == "capture" else "-"])
    c = st[(e, "capture")]["rate"]
    summary.append({"benchmark": f"logs: {nbytes >> 20} MiB of stdout captured", "engine": e, "unit": "MB/s",
                    "median": None if c["median"] is None else round(c["median"], 1),
                    "p10": None if c["p10"] is None else round(c["p10"], 1),
                    "p90": None if c["p90"] is None else round(c["p90"], 1), "n": c["n"],
                    "ratio": None if (e == "bocker" or ratio is None) else round(ratio, 2),
                    "ratio_of": "" if (e == "bocker" or ratio is None) else "bocker/docker (rate)",
                    "target": ">= 20" if e == "docker" else "",
                    "met": target_check(ratio, ">=", 20) if e == "docker" else "",
                    "note": f"writer alone {fmt(w, '{:.0f}')} MB/s"})
notes = []
if ratio is not None:
    notes.append(f"bocker/docker capture rate = {ratio:.1f}x (target >= 20x): {target_check(ratio, '>=', 20)}")
else:
    notes.append("bocker/docker capture rate: not measured (an engine had no successful run)")
bc, bw = st.get(("bocker", "capture")), st.get(("bocker", "devnull"))
if bc and bw and bc["rate"]["median"] and bw["rate"]["median"]:
    frac = bc["rate"]["median"] / bw["rate"]["median"]
    cpu_pct = 100 * bc["cpu"]["median"] / bc["dur"]["median"]
    wpct = bc["wcpu"]["median"]
    if wpct is not None and wpct >= 90:
        verdict = (f"the writer is the bottleneck: it was busy {wpct:.0f}% of its run, so it never waited "
                   "for bockerd to drain the pipe")
    elif frac >= 0.8 and cpu_pct < 90:
        verdict = "the writer is the bottleneck"
    elif cpu_pct >= 90:
        verdict = "bockerd's CPU is the bottleneck"
    else:
        verdict = "the capture path is the bottleneck though bockerd is mostly idle (latency: pipe reads, wakeups, disk)"
    notes.append(f"bocker captures at {frac:.0%} of the writer's own rate with bockerd at {cpu_pct:.0f}% of one CPU: {verdict}")
head = [f"machine: {machine}",
        (f"writer: `dd bs=65536` (busybox, 64 KiB write(2)s) of a {nbytes / 1e6:.0f} MB file of 80-char lines on tmpfs, "
         f"bind-mounted read-only, in Alpine 3.20.3; writer alone = `dd ... | cat >/dev/null`; " if writer_kind == "dd" else
         f"writer: `cat` (busybox, sendfile: no copy into the pipe) of a {nbytes / 1e6:.0f} MB file of 80-char lines on tmpfs, "
         f"bind-mounted read-only, in Alpine 3.20.3; writer alone = `cat file | cat >/dev/null`; " if writer_kind == "cat" else
         f"writer: `yes <79-char line> | head -c {nbytes}` in Alpine 3.20.3 (busybox), {nbytes / 1e6:.0f} MB; ")
        + f"{reps} rounds alternating engines; rate = size / (FinishedAt - StartedAt); "
        + "writer CPU % = (user + system) / elapsed of the captured writer (busybox `time`)",
        "docker: json-file log driver (default options); daemon CPU = dockerd + containerd + the container's shim"]
head += [f"{e}: {v}" for e, v in versions.items()]
print("\n" + "\n".join(head) + "\n")
print(text_table(hdr, table))
print("\n" + "\n".join(notes))
shutil.copy(raw, f"{results}/logs.csv")
write_summary(f"{results}/logs.summary.csv", summary)
with open(f"{results}/logs.md", "w") as f:
    f.write("# Log capture benchmark (bench/logs.sh)\n\n" + "\n".join(f"- {h}" for h in head) + "\n\n")
    f.write(md_table(hdr, table) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
print(f"\nwrote {results}/logs.csv, logs.md and logs.summary.csv")
PY
