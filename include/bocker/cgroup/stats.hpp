// Resource usage of one cgroup, as `docker stats` and the Prometheus exporter need it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace bocker::cgroup {

struct Stats {
  std::uint64_t cpu_usage_ns = 0;           // v1 cpuacct.usage; v2 cpu.stat usage_usec
  std::uint64_t cpu_user_ns = 0;            // v1 cpuacct.stat user (USER_HZ ticks); v2 user_usec
  std::uint64_t cpu_system_ns = 0;          // v1 cpuacct.stat system; v2 system_usec
  std::uint64_t cpu_periods = 0;            // cpu.stat nr_periods
  std::uint64_t cpu_throttled_periods = 0;  // cpu.stat nr_throttled
  std::uint64_t cpu_throttled_ns = 0;       // v1 throttled_time; v2 throttled_usec

  std::uint64_t memory_usage = 0;        // v1 memory.usage_in_bytes; v2 memory.current
  std::uint64_t memory_limit = 0;        // 0 = unlimited
  std::uint64_t memory_cache = 0;        // v1 total_cache; v2 file
  std::uint64_t memory_rss = 0;          // v1 total_rss; v2 anon
  std::uint64_t inactive_file = 0;       // v1 total_inactive_file; v2 inactive_file
  std::uint64_t memory_working_set = 0;  // usage - inactive_file (what docker shows)
  std::uint64_t oom_events = 0;          // v1 memory.oom_control oom_kill; v2 memory.events oom_kill

  std::uint64_t pids_current = 0;
  std::uint64_t pids_limit = 0;  // 0 = unlimited

  std::uint64_t io_read_bytes = 0;   // v1 blkio.throttle.io_service_bytes Read; v2 io.stat rbytes
  std::uint64_t io_write_bytes = 0;  // v1 ... Write; v2 io.stat wbytes

  bool operator==(const Stats&) const = default;
};

// Parsers for the files Cgroup::stats() reads, keyed by file name ("memory.stat", "cpu.stat", ...).
// A missing file leaves its fields at 0; malformed lines are skipped.
Stats parse_stats_v1(const std::map<std::string, std::string>& by_name);
Stats parse_stats_v2(const std::map<std::string, std::string>& by_name);

}  // namespace bocker::cgroup
