#!/usr/bin/env bash
# Pull benchmark: one multi-layer image (Alpine rootfs + incompressible layers + a text layer,
# ≥ 150 MB compressed) from a local registry, pulled by bocker and, in the same run, by
# `skopeo copy` to a dir (download only, no unpacking), `podman pull` and `docker pull` (a private
# dockerd, when it can start). Rounds alternate the tools so background load hits them alike; each
# tool's store is emptied between repetitions so every layer is downloaded again.
# Prints median/min/max seconds, MB/s and ratios, and the targets:
#   bocker/docker <= 0.4, bocker/skopeo (download only) <= 0.5.
# Writes bench/results/pull.csv and bench/results/pull.md.
#
# Usage: bench/pull.sh [--reps N] [--tools bocker,skopeo,podman,docker] [--build-dir DIR]
#                      [--no-install] [--rebuild] [--downloads N] [--results DIR]
# Needs root (registries, overlay mounts, dockerd). Installs skopeo/podman/docker.io/docker-registry
# from Debian when they are missing (unless --no-install).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/procs.sh
source "$here/bench/lib/procs.sh"

reps=3
tools=bocker,skopeo,podman,docker
build=$here/build-release
install=1
rebuild=0
downloads=""
results=$here/bench/results
while (($#)); do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --tools) tools=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --rebuild) rebuild=1; shift ;;
    --downloads) downloads=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "pull.sh: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { say "pull.sh: --reps needs a positive number, got '$reps'"; exit 2; }
[[ $(id -u) == 0 ]] || { say "pull.sh: needs root (registry, overlay mounts, dockerd)"; exit 1; }
IFS=, read -r -a tool_list <<<"$tools"
for t in "${tool_list[@]}"; do
  case $t in bocker | skopeo | podman | docker) ;; *) say "pull.sh: unknown tool '$t'"; exit 2 ;; esac
done
want() { [[ ,$tools, == *,$1,* ]]; }

# --- peers from Debian -------------------------------------------------------------------------
need_pkgs=()
command -v skopeo >/dev/null || need_pkgs+=(skopeo)
command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
want podman && ! command -v podman >/dev/null && need_pkgs+=(podman)
want docker && ! command -v dockerd >/dev/null && need_pkgs+=(docker.io)
if ((${#need_pkgs[@]})); then
  if ((install)); then
    for p in "${need_pkgs[@]}"; do
      apt-cache policy "$p" | grep -q 'Candidate: [0-9]' || { say "pull.sh: Debian has no candidate for $p"; exit 1; }
    done
    say "installing ${need_pkgs[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2
  else
    say "pull.sh: missing ${need_pkgs[*]} (run without --no-install)"; exit 1
  fi
fi

# --- bocker build --------------------------------------------------------------------------------
bockerd=$build/src/daemon/bockerd
bocker=$build/src/cli/bocker
if want bocker && { ((rebuild)) || [[ ! -x $bockerd || ! -x $bocker ]]; }; then
  say "building bockerd and bocker (Release) in $build"
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOCKER_TESTS=OFF >&2
  cmake --build "$build" --target bockerd bocker -j2 >&2
fi

# --- work dir and cleanup ----------------------------------------------------------------------
work=$(mktemp -d /tmp/bocker-bench-pull.XXXXXX)
cleanup() {
  set +e
  procs_cleanup
  umount_under "$work"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the test image ------------------------------------------------------------------------------
cache=$here/bench/.cache/mixed-oci
say "test image: $cache (built once, then reused)"
summary=$(python3 "$here/bench/make-test-image.py" "$cache")
image_bytes=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["compressed_bytes"])' "$summary")
n_layers=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["layers"]))' "$summary")

# --- registry ----------------------------------------------------------------------------------
port=$(free_port)
reg_dir=$work/registry
mkdir -p "$reg_dir/data"
cat >"$reg_dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $reg_dir/data
http:
  addr: 127.0.0.1:$port
YML
start_bg registry "$work/registry.log" docker-registry serve "$reg_dir/config.yml"
wait_for 20 curl -fsS "http://127.0.0.1:$port/v2/" || { say "registry did not start:"; tail "$work/registry.log" >&2; exit 1; }
ref=127.0.0.1:$port/bench/mixed:1
cat >"$work/policy.json" <<'JSON'
{"default": [{"type": "insecureAcceptAnything"}]}
JSON
say "pushing the test image to $ref"
skopeo copy --quiet --policy "$work/policy.json" --dest-tls-verify=false "oci:$cache:mixed" "docker://$ref" >&2

# --- tools -------------------------------------------------------------------------------------
# Each tool has: <tool>_setup (once; returns 1 to skip the tool), <tool>_pull, <tool>_clear (empties
# its store; fails when something is left), and a version string.
declare -A version skip_reason

bocker_setup() {
  local args=(--root "$work/bocker-root" --host "unix://$work/bocker.sock" --metrics-addr "" --bridge none)
  [[ -n $downloads ]] && args+=(--max-concurrent-downloads "$downloads")
  start_bg bockerd "$work/bockerd.log" "$bockerd" "${args[@]}"
  if ! wait_for 20 test -S "$work/bocker.sock"; then
    skip_reason[bocker]="bockerd did not start: $(tail -3 "$work/bockerd.log")"
    return 1
  fi
  version[bocker]="$("$bockerd" --version 2>&1 | head -1) (git $(git -C "$here" rev-parse --short HEAD))"
}
bocker_pull() { "$bocker" -H "unix://$work/bocker.sock" pull "$ref"; }
bocker_clear() {
  "$bocker" -H "unix://$work/bocker.sock" rmi "$ref" >/dev/null
  # every layer dir of the storage driver must be gone
  local left
  left=$(find "$work/bocker-root/storage" -mindepth 3 -maxdepth 3 -path '*/layers/*' 2>/dev/null | wc -l)
  [[ $left == 0 ]] || { say "bocker: $left layer dirs left after rmi"; return 1; }
}

skopeo_setup() { version[skopeo]=$(skopeo --version | awk '{print $3}'); }
skopeo_pull() {
  skopeo copy --quiet --policy "$work/policy.json" --src-tls-verify=false "docker://$ref" "dir:$work/skopeo-out"
}
skopeo_clear() { rm -rf "$work/skopeo-out"; }

podman_cmd() {
  CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf \
    podman --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver overlay "$@"
}
podman_setup() {
  # Private config: no systemd or journald here; ulimits below the hard limits (no CAP_SYS_RESOURCE).
  cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/podman-events.log"
CONF
  printf 'unqualified-search-registries = []\n' >"$work/registries.conf"
  version[podman]=$(podman --version | awk '{print $3}')
  if ! podman_cmd info >"$work/podman-info.log" 2>&1; then
    skip_reason[podman]="podman info failed: $(tail -2 "$work/podman-info.log")"
    return 1
  fi
}
podman_pull() { podman_cmd pull --quiet --tls-verify=false "$ref"; }
podman_clear() {
  podman_cmd rmi --force "$ref" >/dev/null
  [[ -z $(podman_cmd images -q) ]] || { say "podman: images left after rmi"; return 1; }
}

docker_cmd() { DOCKER_HOST=unix://$work/docker.sock docker "$@"; }
docker_setup() {
  if ! command -v dockerd >/dev/null; then
    skip_reason[docker]="dockerd is not installed"
    return 1
  fi
  mkdir -p "$work/docker-data" "$work/docker-exec"
  start_bg dockerd "$work/dockerd.log" dockerd --data-root "$work/docker-data" \
    --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" \
    --bridge=none --iptables=false --ip-masq=false --storage-driver overlay2 \
    --insecure-registry "127.0.0.1:$port"
  docker_pid=$started_pid
  if ! wait_for 60 docker_cmd version; then
    skip_reason[docker]="dockerd did not start: $(grep -iE 'level=(error|fatal)|failed' "$work/dockerd.log" | tail -2)"
    stop_pid "$docker_pid"
    return 1
  fi
  version[docker]="dockerd $(docker_cmd version --format '{{.Server.Version}}'), CLI $(docker_cmd version --format '{{.Client.Version}}')"
}
docker_pull() { docker_cmd pull --quiet "$ref"; }
docker_clear() {
  docker_cmd rmi --force "$ref" >/dev/null
  [[ -z $(docker_cmd images -q) ]] || { say "docker: images left after rmi"; return 1; }
}

active=()
for t in "${tool_list[@]}"; do
  if "${t}_setup"; then active+=("$t"); else say "skipping $t: ${skip_reason[$t]}"; fi
done
((${#active[@]})) || { say "no tool could run"; exit 1; }

# --- machine -----------------------------------------------------------------------------------
mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
fs_type=$(findmnt -n -o FSTYPE --target "$work" 2>/dev/null || stat -f -c %T "$work")
machine="$(nproc) CPUs ($cpu_model), ${mem_gib} GiB RAM, kernel $(uname -r), work dir on $fs_type"
say "machine: $machine"
for t in "${active[@]}"; do say "$t: ${version[$t]}"; done
say "image: $ref, $n_layers layers, $image_bytes bytes compressed; $reps repetitions, rounds alternate tools"

# --- measure -----------------------------------------------------------------------------------
mkdir -p "$results"
raw=$work/raw.csv
echo "tool,rep,seconds,ok" >"$raw"
for ((r = 1; r <= reps; r++)); do
  for t in "${active[@]}"; do
    "${t}_clear" >/dev/null 2>&1 || true
    t0=$(now)
    if "${t}_pull" >"$work/$t-pull-$r.log" 2>"$work/$t-pull-$r.err"; then ok=1; else ok=0; fi
    t1=$(now)
    s=$(elapsed "$t0" "$t1")
    echo "$t,$r,$s,$ok" >>"$raw"
    if ((ok)); then say "round $r: $t ${s}s"; else say "round $r: $t FAILED after ${s}s: $(cat "$work/$t-pull-$r.err" "$work/$t-pull-$r.log" | grep -v '^ *$' | tail -3)"; fi
    if ! "${t}_clear" 2>"$work/$t-clear-$r.log"; then
      say "$t: could not empty its store: $(tail -2 "$work/$t-clear-$r.log")"
    fi
  done
done

versions_json=$(for t in "${active[@]}"; do printf '%s\t%s\n' "$t" "${version[$t]}"; done)
skipped_json=$(for t in "${!skip_reason[@]}"; do printf '%s\t%s\n' "$t" "${skip_reason[$t]}"; done)
python3 - "$raw" "$image_bytes" "$n_layers" "$reps" "$machine" \
  "$versions_json" "$skipped_json" "$results/pull.csv" "$results/pull.md" <<'PY'
import csv, statistics, sys
raw, image_bytes, n_layers, reps, machine, versions, skipped, out_csv, out_md = sys.argv[1:]
image_bytes = int(image_bytes)
versions = dict(l.split("\t", 1) for l in versions.splitlines() if l)
skipped = dict(l.split("\t", 1) for l in skipped.splitlines() if l)
rows = list(csv.DictReader(open(raw)))
order = list(dict.fromkeys(r["tool"] for r in rows))
label = {"bocker": "bocker pull", "skopeo": "skopeo copy to dir (download only)",
         "podman": "podman pull", "docker": "docker pull"}
stats = {}
for t in order:
    ok = [float(r["seconds"]) for r in rows if r["tool"] == t and r["ok"] == "1"]
    failed = sum(1 for r in rows if r["tool"] == t and r["ok"] != "1")
    stats[t] = {"med": statistics.median(ok) if ok else None, "min": min(ok, default=None),
                "max": max(ok, default=None), "n": len(ok), "failed": failed}
b = stats.get("bocker", {}).get("med")

def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)

hdr = ["tool", "median s", "min-max s", "MB/s", "x bocker", "runs ok"]
lines = []
for t in order:
    s = stats[t]
    mbs = image_bytes / s["med"] / 1e6 if s["med"] else None
    ratio = s["med"] / b if (s["med"] and b) else None
    spread = "-" if s["min"] is None else f"{s['min']:.2f}-{s['max']:.2f}"
    lines.append([label[t], fmt(s["med"]), spread, fmt(mbs, "{:.0f}"), fmt(ratio), f"{s['n']}/{s['n'] + s['failed']}"])
targets = []
for peer, limit in (("docker", 0.4), ("skopeo", 0.5)):
    p = stats.get(peer, {}).get("med")
    if p and b:
        r = b / p
        targets.append(f"bocker/{peer} = {r:.2f} (target <= {limit}): {'met' if r <= limit else 'NOT met'}")
    else:
        if "bocker" not in stats or not b:
            why = "bocker " + ("not run" if "bocker" not in stats else "had no successful run")
        else:
            why = skipped.get(peer, "not run") if peer not in stats else f"{peer} had no successful run"
        targets.append(f"bocker/{peer}: not measured ({why})")

head = [f"machine: {machine}",
        f"image: {n_layers} layers, {image_bytes / 1e6:.1f} MB compressed (Alpine rootfs + incompressible gzip -1 layers + a text layer), local registry on 127.0.0.1",
        f"{reps} repetitions per tool, rounds alternate the tools, each store emptied between repetitions"]
head += [f"{t}: {v}" for t, v in versions.items()]
head += [f"{t}: skipped: {v}" for t, v in skipped.items()]
w = [max(len(hdr[i]), *(len(l[i]) for l in lines)) for i in range(len(hdr))]
print()
print("\n".join(head))
print()
print("  ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i]) for i, h in enumerate(hdr)))
for l in lines:
    print("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(l)))
print()
print("\n".join(targets))

with open(out_csv, "w", newline="") as f:
    cw = csv.writer(f)
    cw.writerow(["tool", "rep", "seconds", "ok", "image_bytes"])
    for r in rows:
        cw.writerow([r["tool"], r["rep"], r["seconds"], r["ok"], image_bytes])
with open(out_md, "w") as f:
    f.write("# Pull benchmark (bench/pull.sh)\n\n")
    f.write("\n".join(f"- {h}" for h in head) + "\n\n")
    f.write("| " + " | ".join(hdr) + " |\n|" + "---|" * len(hdr) + "\n")
    for l in lines:
        f.write("| " + " | ".join(l) + " |\n")
    f.write("\n" + "\n".join(f"- {t}" for t in targets) + "\n")
print(f"\nwrote {out_csv} and {out_md}")
PY
