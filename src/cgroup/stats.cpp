#include "bocker/cgroup/stats.hpp"

#include <unistd.h>

#include <charconv>
#include <string_view>

namespace bocker::cgroup {
namespace {

// v1 reports "no limit" as a page-rounded LONG_MAX; anything this large counts as unlimited.
constexpr std::uint64_t kV1Unlimited = 1ULL << 62;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool to_u64(std::string_view s, std::uint64_t& out) {
  s = trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

const std::string* find(const std::map<std::string, std::string>& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

// A file holding one number ("max" and unparsable content give 0).
std::uint64_t single(const std::map<std::string, std::string>& m, const std::string& name) {
  std::uint64_t v = 0;
  if (const auto* s = find(m, name); s != nullptr && to_u64(*s, v)) return v;
  return 0;
}

// Calls fn(line) for every non-empty line.
template <typename Fn>
void lines(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    line = trim(line);
    if (!line.empty()) fn(line);
  }
}

// "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat, memory.oom_control).
std::map<std::string, std::uint64_t, std::less<>> flat_keyed(const std::map<std::string, std::string>& m,
                                                             const std::string& name) {
  std::map<std::string, std::uint64_t, std::less<>> out;
  const auto* s = find(m, name);
  if (s == nullptr) return out;
  lines(*s, [&](std::string_view line) {
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return;
    std::uint64_t v = 0;
    if (to_u64(line.substr(sp + 1), v)) out.emplace(std::string(line.substr(0, sp)), v);
  });
  return out;
}

std::uint64_t get(const std::map<std::string, std::uint64_t, std::less<>>& m, std::string_view key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

void working_set(Stats& s) {
  s.memory_working_set = s.memory_usage > s.inactive_file ? s.memory_usage - s.inactive_file : 0;
}

}  // namespace

Stats parse_stats_v1(const std::map<std::string, std::string>& by_name) {
  Stats s;
  s.cpu_usage_ns = single(by_name, "cpuacct.usage");
  auto cpuacct = flat_keyed(by_name, "cpuacct.stat");
  long hz = ::sysconf(_SC_CLK_TCK);
  std::uint64_t ns_per_tick = hz > 0 ? 1000000000ULL / static_cast<std::uint64_t>(hz) : 10000000ULL;
  s.cpu_user_ns = get(cpuacct, "user") * ns_per_tick;
  s.cpu_system_ns = get(cpuacct, "system") * ns_per_tick;
  auto cpu = flat_keyed(by_name, "cpu.stat");
  s.cpu_periods = get(cpu, "nr_periods");
  s.cpu_throttled_periods = get(cpu, "nr_throttled");
  s.cpu_throttled_ns = get(cpu, "throttled_time");

  s.memory_usage = single(by_name, "memory.usage_in_bytes");
  s.memory_limit = single(by_name, "memory.limit_in_bytes");
  if (s.memory_limit >= kV1Unlimited) s.memory_limit = 0;
  auto mem = flat_keyed(by_name, "memory.stat");
  bool hierarchical = mem.count("total_cache") != 0;
  s.memory_cache = get(mem, hierarchical ? "total_cache" : "cache");
  s.memory_rss = get(mem, hierarchical ? "total_rss" : "rss");
  s.inactive_file = get(mem, hierarchical ? "total_inactive_file" : "inactive_file");
  working_set(s);
  s.oom_events = get(flat_keyed(by_name, "memory.oom_control"), "oom_kill");

  s.pids_current = single(by_name, "pids.current");
  s.pids_limit = single(by_name, "pids.max");

  // "8:0 Read 4096" per device and operation, then "Total N".
  if (const auto* io = find(by_name, "blkio.throttle.io_service_bytes")) {
    lines(*io, [&](std::string_view line) {
      auto a = line.find(' ');
      if (a == std::string_view::npos) return;
      auto b = line.find(' ', a + 1);
      if (b == std::string_view::npos) return;
      std::string_view op = line.substr(a + 1, b - a - 1);
      std::uint64_t v = 0;
      if (!to_u64(line.substr(b + 1), v)) return;
      if (op == "Read") s.io_read_bytes += v;
      if (op == "Write") s.io_write_bytes += v;
    });
  }
  return s;
}

Stats parse_stats_v2(const std::map<std::string, std::string>& by_name) {
  Stats s;
  auto cpu = flat_keyed(by_name, "cpu.stat");
  s.cpu_usage_ns = get(cpu, "usage_usec") * 1000;
  s.cpu_user_ns = get(cpu, "user_usec") * 1000;
  s.cpu_system_ns = get(cpu, "system_usec") * 1000;
  s.cpu_periods = get(cpu, "nr_periods");
  s.cpu_throttled_periods = get(cpu, "nr_throttled");
  s.cpu_throttled_ns = get(cpu, "throttled_usec") * 1000;

  s.memory_usage = single(by_name, "memory.current");
  s.memory_limit = single(by_name, "memory.max");  // "max" -> 0
  auto mem = flat_keyed(by_name, "memory.stat");
  s.memory_cache = get(mem, "file");
  s.memory_rss = get(mem, "anon");
  s.inactive_file = get(mem, "inactive_file");
  working_set(s);
  s.oom_events = get(flat_keyed(by_name, "memory.events"), "oom_kill");

  s.pids_current = single(by_name, "pids.current");
  s.pids_limit = single(by_name, "pids.max");

  // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device.
  if (const auto* io = find(by_name, "io.stat")) {
    lines(*io, [&](std::string_view line) {
      while (!line.empty()) {
        auto sp = line.find(' ');
        std::string_view field = line.substr(0, sp);
        line.remove_prefix(sp == std::string_view::npos ? line.size() : sp + 1);
        auto eq = field.find('=');
        if (eq == std::string_view::npos) continue;
        std::uint64_t v = 0;
        if (!to_u64(field.substr(eq + 1), v)) continue;
        if (field.substr(0, eq) == "rbytes") s.io_read_bytes += v;
        if (field.substr(0, eq) == "wbytes") s.io_write_bytes += v;
      }
    });
  }
  return s;
}

}  // namespace bocker::cgroup
