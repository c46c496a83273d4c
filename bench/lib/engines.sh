# Container engines for the run/density/logs benchmarks (sourced after procs.sh): a private
# bockerd, a private dockerd (Debian docker.io) and podman with a private root, each on its own
# data root, socket, bridge and subnet, all under the caller's $work. Everything started here is
# recorded for procs_cleanup; engines_cleanup removes containers, bridges, cgroup parents and CNI
# state. Nothing here touches eth0 or the default route.
#
# The caller sets: here (repo), work (temp dir), build (bocker build dir), install (1: apt-get
# missing peers). Each engine has <engine>_setup (returns 1 with skip_reason[<engine>] set),
# <engine>_cmd ARGS... (its CLI), version[<engine>], and its daemon pid(s).

declare -A version skip_reason
alpine_tar=${ALPINE_TAR:-/work/shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz}
bench_image=bench/alpine:3.20.3
bk_bridge=bkbench-bk0
dk_bridge=bkbench-dk0
pd_bridge=bkbench-pd0
pd_network=bkbench
dk_cgroup=bkbench-docker
pd_cgroup=bkbench-podman

# engines_install PKG...: installs Debian packages whose commands are missing (when $install).
engines_install() {
  local need=() p
  for p in "$@"; do
    case $p in
      docker.io) command -v dockerd >/dev/null || need+=(docker.io) ;;
      podman) command -v podman >/dev/null || need+=(podman) ;;
      *) dpkg -s "$p" >/dev/null 2>&1 || need+=("$p") ;;
    esac
  done
  ((${#need[@]})) || return 0
  if ((install)); then
    say "installing ${need[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
  else
    say "missing ${need[*]} (run without --no-install)"
    return 1
  fi
}

# free_subnet A B C...: the first 10.X.0.0 /16 (X from the list) no address or route uses.
free_subnet() {
  local x used
  used=$(ip -4 -o addr show; ip -4 route show)
  for x in "$@"; do
    grep -q "10\.$x\." <<<"$used" || { echo "$x"; return 0; }
  done
  return 1
}

# ensure_bocker_build: builds bockerd and bocker (Release, benchmarks on) when missing.
ensure_bocker_build() {
  bockerd=$build/src/daemon/bockerd
  bocker=$build/src/cli/bocker
  if ((${rebuild:-0})) || [[ ! -x $bockerd || ! -x $bocker ]]; then
    say "building bockerd and bocker (Release) in $build"
    cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOCKER_BENCH=ON -DBOCKER_TESTS=OFF >&2
    cmake --build "$build" --target bockerd bocker -j2 >&2
  fi
}

# --- bocker ----------------------------------------------------------------------------------------
# bocker_setup [--no-bridge]: a bockerd on $work/bocker-root; imports the Alpine image.
# Sets bocker_pid, bocker_cli (bocker or docker, whichever drives containers) and bocker_net
# ("bridge" when containers get a veth on the bridge, else "none").
bocker_setup() {
  local args=(--root "$work/bocker-root" --host "unix://$work/bocker.sock" --metrics-addr "")
  local sub
  if [[ ${1:-} != --no-bridge ]] && "$bockerd" --help 2>&1 | grep -q -- '--bridge-subnet'; then
    sub=$(free_subnet 233 234 235 236) || sub=""
    [[ -n $sub ]] && args+=(--bridge "$bk_bridge" --bridge-subnet "10.$sub.0.0/16")
  fi
  [[ " ${args[*]} " == *" --bridge "* ]] || args+=(--bridge none)  # never the host's bridge0
  start_bg bockerd "$work/bockerd.log" "$bockerd" "${args[@]}"
  bocker_pid=$started_pid
  if ! wait_for 20 test -S "$work/bocker.sock"; then
    skip_reason[bocker]="bockerd did not start: $(tail -3 "$work/bockerd.log")"
    return 1
  fi
  version[bocker]="$("$bockerd" --version 2>&1 | head -1) (git $(git -C "$here" rev-parse --short HEAD))"
  if "$bocker" run --help >/dev/null 2>&1; then
    bocker_cli="bocker CLI"
  else
    bocker_cli="docker CLI $(docker --version | awk '{print $3}' | tr -d ,) (bocker run missing)"
  fi
  bocker_cmd import "$alpine_tar" "$bench_image" >/dev/null || {
    skip_reason[bocker]="bocker import failed"
    return 1
  }
  bocker_net=$(net_probe bocker)
}
bocker_cmd() {
  if [[ $bocker_cli == "bocker CLI" || $1 == import ]]; then
    BOCKER_NO_AUTOSTART=1 "$bocker" -H "unix://$work/bocker.sock" "$@"
  else
    DOCKER_HOST=unix://$work/bocker.sock docker "$@"
  fi
}

# --- docker ----------------------------------------------------------------------------------------
# docker_setup [--no-bridge]: a private dockerd (own data root, exec root, socket, cgroup parent),
# containers on its own bridge $dk_bridge (no iptables changes: --iptables=false).
docker_setup() {
  engines_install docker.io || { skip_reason[docker]="docker.io not installed"; return 1; }
  local net=(--bridge=none) sub
  if [[ ${1:-} != --no-bridge ]] && sub=$(free_subnet 231 237 238 239); then
    ip link del "$dk_bridge" 2>/dev/null || true
    ip link add "$dk_bridge" type bridge && ip addr add "10.$sub.0.1/16" dev "$dk_bridge" &&
      ip link set "$dk_bridge" up && net=(--bridge "$dk_bridge")
  fi
  mkdir -p "$work/docker-data" "$work/docker-exec"
  start_bg dockerd "$work/dockerd.log" dockerd --data-root "$work/docker-data" \
    --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" -H "unix://$work/docker.sock" \
    "${net[@]}" --iptables=false --ip-masq=false --ip-forward=false --storage-driver overlay2 \
    --cgroup-parent "/$dk_cgroup" --log-driver json-file
  docker_pid=$started_pid
  if ! wait_for 60 docker_cmd version; then
    skip_reason[docker]="dockerd did not start: $(grep -iE 'level=(error|fatal)|failed' "$work/dockerd.log" | tail -2)"
    stop_pid "$docker_pid"
    return 1
  fi
  version[docker]="dockerd $(docker_cmd version --format '{{.Server.Version}}'), containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1 {print $3}'), CLI $(docker_cmd version --format '{{.Client.Version}}')"
  docker_cmd import "$alpine_tar" "$bench_image" >/dev/null || {
    skip_reason[docker]="docker import failed"
    return 1
  }
  docker_net=$(net_probe docker)
}
docker_cmd() { DOCKER_HOST=unix://$work/docker.sock docker "$@"; }
# containerd's pid (dockerd's child).
docker_containerd_pid() { pgrep -P "$docker_pid" -x containerd | head -1; }
# pids of the containerd-shim-runc-v2 processes of this dockerd's containerd.
docker_shim_pids() {
  local p
  for p in $(pgrep -x containerd-shim || true); do  # comm is cut to 15 chars
    grep -qa -- "$work/docker-exec" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
  return 0
}

# --- podman ----------------------------------------------------------------------------------------
# podman_setup [--no-bridge]: podman with its own root/runroot, containers.conf (ulimits below the
# hard limits: no CAP_SYS_RESOURCE here; cgroupfs; file events), CNI config dir and network.
podman_setup() {
  engines_install podman || { skip_reason[podman]="podman not installed"; return 1; }
  mkdir -p "$work/cni"
  # Limits equal to the hard limits fail in runc's setrlimit here; these are well below them.
  local nofile=1024 nproc=4096
  cat >"$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"
[network]
network_config_dir = "$work/cni"
default_subnet = "10.240.0.0/16"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/podman-events.log"
CONF
  printf 'unqualified-search-registries = []\n' >"$work/registries.conf"
  version[podman]="podman $(podman --version | awk '{print $3}'), conmon $(conmon --version | awk 'NR==1 {print $3}'), runc $(runc --version | awk 'NR==1 {print $3}')"
  if ! podman_raw info >"$work/podman-info.log" 2>&1; then
    skip_reason[podman]="podman info failed: $(tail -2 "$work/podman-info.log")"
    return 1
  fi
  # The bench network: a CNI conflist written here (the bridge plugin on our own bridge name,
  # host-local addresses kept under $work, no firewall plugin: no iptables changes, like dockerd
  # with --iptables=false).
  podman_network=none
  local sub
  if [[ ${1:-} != --no-bridge ]] && sub=$(free_subnet 232 241 242 243); then
    cat >"$work/cni/$pd_network.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "$pd_network",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$pd_bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$work/cni-ipam",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "10.$sub.0.0/16", "gateway": "10.$sub.0.1"}]]
      }
    }
  ]
}
JSON
    if podman_raw network inspect "$pd_network" >"$work/podman-net.log" 2>&1; then
      podman_network=$pd_network
    else
      say "podman: no bridge network: $(tail -1 "$work/podman-net.log")"
    fi
  fi
  podman_raw import "$alpine_tar" "$bench_image" >"$work/podman-import.log" 2>&1 || {
    skip_reason[podman]="podman import failed"
    return 1
  }
  podman_net=$(net_probe podman)
}
podman_raw() {
  CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=$work/registries.conf \
    podman --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver overlay \
    --runtime runc --cgroup-manager cgroupfs "$@"
}
# podman_cmd run ...: `run` gets the bench network and cgroup parent unless --network is given.
podman_cmd() {
  if [[ $1 == run || $1 == create ]]; then
    local sub=$1
    shift
    local extra=(--cgroup-parent "/$pd_cgroup")
    [[ " $* " == *" --network "* ]] || extra+=(--network "$podman_network")
    podman_raw "$sub" "${extra[@]}" "$@"
  else
    podman_raw "$@"
  fi
}
podman_conmon_pids() {
  local p
  for p in $(pgrep -x conmon || true); do
    grep -qa -- "$work/podman-run" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
  return 0
}

# net_probe ENGINE: "bridge" when a default-network container has an interface besides lo.
net_probe() {
  local n
  n=$("$1_cmd" run --rm "$bench_image" sh -c 'grep -c ":" /proc/net/dev' 2>/dev/null) || n=0
  if [[ $n =~ ^[0-9]+$ ]] && ((n >= 2)); then echo bridge; else echo none; fi
}

# --- cleanup -----------------------------------------------------------------------------------
# engines_cleanup: containers of each engine removed, daemons stopped (procs_cleanup), bridges,
# cgroup parents and CNI state of the bench network removed.
engines_cleanup() {
  set +e
  if [[ -S $work/bocker.sock ]]; then
    DOCKER_HOST=unix://$work/bocker.sock timeout 120 docker ps -aq 2>/dev/null |
      xargs -r -n 50 env DOCKER_HOST="unix://$work/bocker.sock" timeout 300 docker rm -f >/dev/null 2>&1
  fi
  if [[ -S $work/docker.sock ]]; then
    docker_cmd ps -aq 2>/dev/null | xargs -r -n 50 env DOCKER_HOST="unix://$work/docker.sock" timeout 300 docker rm -f >/dev/null 2>&1
  fi
  if [[ -f $work/containers.conf ]] && command -v podman >/dev/null; then
    podman_raw rm -af -t 0 >/dev/null 2>&1
    podman_raw network rm -f "$pd_network" >/dev/null 2>&1
  fi
  procs_cleanup
  local p
  for p in $(podman_conmon_pids 2>/dev/null); do stop_pid "$p" 5; done
  for p in $(docker_shim_pids 2>/dev/null); do stop_pid "$p" 5; done
  umount_under "$work"
  local b
  for b in "$bk_bridge" "$dk_bridge" "$pd_bridge"; do
    ip link show "$b" >/dev/null 2>&1 && ip link del "$b"
  done
  nft delete table ip "bocker_$bk_bridge" 2>/dev/null || true  # bockerd's NAT table for that bridge
  local c
  # libpod_parent: where podman's cgroupfs manager puts conmon; only empty dirs go.
  for c in "$dk_cgroup" "$pd_cgroup" libpod_parent; do
    find /sys/fs/cgroup/*/"$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}

# --- measuring helpers ---------------------------------------------------------------------------
# rss_kb PID...: summed VmRSS in KiB.
rss_kb() {
  local p s=0 v
  for p in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    s=$((s + ${v:-0}))
  done
  echo "$s"
}
# ctxsw PID...: voluntary + involuntary context switches summed over every thread of the PIDs.
ctxsw() {
  local p s=0 v
  for p in "$@"; do
    v=$(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ {s += $2} END {print s + 0}')
    s=$((s + v))
  done
  echo "$s"
}
# cpu_s PID...: user+system CPU seconds, summed.
cpu_s() {
  local p
  for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
    awk -v hz="$(getconf CLK_TCK)" '{s += ($14 + $15) / hz} END {printf "%.2f\n", s}'
}

# machine_line: CPUs, model, RAM, kernel.
machine_line() {
  local mem cpu
  mem=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  echo "$(nproc) CPUs ($cpu), ${mem} GiB RAM, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
