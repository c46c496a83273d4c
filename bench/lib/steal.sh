# shellcheck shell=bash
# Hypervisor steal time (sourced): the share of all CPUs' time the host gave to other guests while
# this VM's vCPUs wanted to run. Above STEAL_WARN_PCT (default 10) a benchmark's figures are unreliable.
#   s0=$(steal_sample); ...benchmark...; pct=$(steal_pct "$s0" "$(steal_sample)")   # e.g. 3.2
# or steal_begin; ...; steal_end   # prints "steal 3.2% of CPU time"

STEAL_WARN_PCT=${STEAL_WARN_PCT:-10}

# steal_sample: "STEAL TOTAL" jiffies of /proc/stat's aggregate `cpu ` line (TOTAL = user..steal;
# guest time is already counted in user/nice). Kernels without a steal field give 0.
steal_sample() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9 + 0, t; exit }' /proc/stat; }

# steal_pct "S0 T0" "S1 T1": steal between two samples as a percentage (one decimal) of all CPUs' time.
steal_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
    printf "%.1f\n", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}

# steal_begin / steal_end: the same around a stretch of a script (not nestable).
steal_begin() { _steal0=$(steal_sample); }
steal_end() { echo "steal $(steal_pct "$_steal0" "$(steal_sample)")% of CPU time"; }

# steal_high PCT: true when PCT exceeds STEAL_WARN_PCT.
steal_high() { awk -v p="$1" -v w="$STEAL_WARN_PCT" 'BEGIN { exit !(p + 0 > w) }'; }
