# Helpers for benchmark scripts (sourced): processes started by pid and stopped by pid, mounts
# under a work dir, waits, timing. Expects the caller to define `work` (its temp dir) and to call
# procs_cleanup from its EXIT trap.

procs_pids=()

say() { printf '%s\n' "$*" >&2; }

# start_bg NAME LOG CMD...: runs CMD in the background, records its pid for procs_cleanup and
# leaves it in $started_pid (not printed: a command substitution would lose the record).
start_bg() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 </dev/null &
  started_pid=$!
  procs_pids+=("$started_pid")
  say "started $name (pid $started_pid), log $log"
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 20), then SIGKILL.
stop_pid() {
  local pid=$1 secs=${2:-20} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid still alive after ${secs}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# umount_under DIR: lazily unmounts every mount point at or below DIR, deepest first.
umount_under() {
  local dir=$1 m
  [[ -n $dir && -d $dir ]] || return 0
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || say "cannot unmount $m"; done
}

# procs_cleanup: stops every recorded pid (last started first).
procs_cleanup() {
  local i
  for ((i = ${#procs_pids[@]} - 1; i >= 0; i--)); do stop_pid "${procs_pids[i]}"; done
  procs_pids=()
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds; returns 1 on timeout.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# now: seconds since the epoch with microseconds.
now() { printf '%s\n' "$EPOCHREALTIME"; }
elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }
