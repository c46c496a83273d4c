// Resource limits for one container's cgroup, with docker's units and validation rules.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace bocker::cgroup {

inline constexpr std::int64_t kMinMemoryBytes = 6 * 1024 * 1024;  // docker's minimum (6 MB)
inline constexpr std::int64_t kDefaultCpuPeriodUs = 100000;
inline constexpr std::int64_t kMinCpuShares = 2;
inline constexpr std::int64_t kMaxCpuShares = 262144;

// A field left at 0 is not written by Cgroup::apply(): a fresh cgroup is unlimited, and for an
// update (`docker update`) 0 means "leave as is". -1 writes "unlimited" where allowed.
struct Limits {
  std::int64_t memory_bytes = 0;   // 0 = unlimited; else >= kMinMemoryBytes
  std::int64_t memory_swap = 0;    // memory + swap; 0 = same as memory (no swap); -1 = unlimited swap
  std::int64_t cpu_shares = 0;     // relative weight; clamped to [2, 262144] like the kernel and docker
  std::int64_t cpu_quota_us = 0;   // CFS quota per period; -1 = unlimited
  std::int64_t cpu_period_us = 0;  // 0 = kDefaultCpuPeriodUs when a quota is set
  std::int64_t pids_limit = 0;     // 0 = unchanged (unlimited on a fresh cgroup); -1 = unlimited

  bool operator==(const Limits&) const = default;
};

// Throws Error(kInvalid) naming the field and value when a limit is out of docker's ranges.
// Checked by apply() before any file is written, so bad input changes nothing.
void validate(const Limits& limits);

// Docker's RAMInBytes: "512m", "1g", "1.5GiB", "100k", "6291456", "10b" (1024-based units
// b, k, m, g, t, p; an optional "i"/"b" after the unit). Throws Error(kInvalid) naming the value.
std::int64_t parse_memory(std::string_view text);

// --cpus N: the CFS quota for a period of kDefaultCpuPeriodUs (N * 100000). Throws Error(kInvalid)
// unless 0.01 <= N and the quota fits.
std::int64_t cpus_to_quota(double cpus);

// cgroup v2 cpu.weight for v1 cpu.shares (the kernel/runc formula): 1 + ((shares - 2) * 9999) / 262142.
std::int64_t shares_to_weight(std::int64_t shares);

// The limits the bocker CLI takes from its environment: BOCKER_CPU_SHARE (default 512) for
// cpu_shares and BOCKER_MEM_LIMIT in MB x 1,000,000 (default 512 -> 512,000,000 bytes) for
// memory_bytes. A value that is not a non-negative integer is Error(kInvalid) naming the variable.
Limits bocker_env_defaults(const std::map<std::string, std::string>& env);

}  // namespace bocker::cgroup
