#include "bocker/cgroup/limits.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "bocker/runtime/error.hpp"

namespace bocker::cgroup {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

void validate(const Limits& l) {
  if (l.memory_bytes < 0) throw invalid("invalid memory limit " + std::to_string(l.memory_bytes));
  if (l.memory_bytes > 0 && l.memory_bytes < kMinMemoryBytes) {
    throw invalid("Minimum memory limit allowed is 6MB (got " + std::to_string(l.memory_bytes) + " bytes)");
  }
  if (l.memory_swap < -1) throw invalid("invalid memory swap limit " + std::to_string(l.memory_swap));
  if (l.memory_swap > 0 && l.memory_bytes == 0) {
    throw invalid("You should always set the Memory limit when using Memoryswap limit");
  }
  if (l.memory_swap > 0 && l.memory_swap < l.memory_bytes) {
    throw invalid("Minimum memoryswap limit should be larger than memory limit (memory " +
                  std::to_string(l.memory_bytes) + ", memoryswap " + std::to_string(l.memory_swap) + ")");
  }
  if (l.cpu_shares < 0) throw invalid("invalid cpu shares " + std::to_string(l.cpu_shares));
  if (l.cpu_period_us != 0 && (l.cpu_period_us < 1000 || l.cpu_period_us > 1000000)) {
    throw invalid(
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000), got " +
        std::to_string(l.cpu_period_us));
  }
  if (l.cpu_quota_us < -1 || (l.cpu_quota_us > 0 && l.cpu_quota_us < 1000)) {
    throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000), got " +
                  std::to_string(l.cpu_quota_us));
  }
  if (l.pids_limit < -1) throw invalid("invalid pids limit " + std::to_string(l.pids_limit));
}

std::int64_t parse_memory(std::string_view text) {
  auto bad = [&](const std::string& why) { return invalid("invalid size " + quoted(text) + ": " + why); };
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    return text.substr(start, i - start);
  };
  std::string_view whole = digits();
  if (whole.empty()) throw bad("expected a number with an optional unit (b, k, m, g, t, p)");
  std::string_view frac;
  if (i < text.size() && text[i] == '.') {
    ++i;
    frac = digits();
    if (frac.empty()) throw bad("expected digits after the decimal point");
  }
  if (i < text.size() && text[i] == ' ') ++i;
  std::int64_t mult = 1;
  if (i < text.size()) {
    switch (std::tolower(static_cast<unsigned char>(text[i]))) {
      case 'k':
        mult = 1LL << 10;
        break;
      case 'm':
        mult = 1LL << 20;
        break;
      case 'g':
        mult = 1LL << 30;
        break;
      case 't':
        mult = 1LL << 40;
        break;
      case 'p':
        mult = 1LL << 50;
        break;
      default:
        mult = 0;
        break;
    }
    if (mult != 0) {
      ++i;
      if (i < text.size() && std::tolower(static_cast<unsigned char>(text[i])) == 'i') ++i;
    } else {
      mult = 1;
    }
  }
  if (i < text.size() && std::tolower(static_cast<unsigned char>(text[i])) == 'b') ++i;
  if (i != text.size()) throw bad("unexpected " + quoted(text.substr(i)));

  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), n);
  (void)p;
  if (ec != std::errc() || n > kMax / mult) throw bad("too large");
  std::int64_t bytes = n * mult;
  if (!frac.empty()) {
    double f = 0;
    double scale = 0.1;
    for (char c : frac) {
      f += (c - '0') * scale;
      scale /= 10;
    }
    auto extra = static_cast<std::int64_t>(std::floor(f * static_cast<double>(mult)));
    if (extra > kMax - bytes) throw bad("too large");
    bytes += extra;
  }
  return bytes;
}

std::int64_t cpus_to_quota(double cpus) {
  if (!std::isfinite(cpus) || cpus < 0.01) {
    throw invalid("invalid --cpus " + std::to_string(cpus) + ": the minimum is 0.01");
  }
  double quota = std::round(cpus * static_cast<double>(kDefaultCpuPeriodUs));
  if (quota >= static_cast<double>(kMax))
    throw invalid("invalid --cpus " + std::to_string(cpus) + ": too large");
  return static_cast<std::int64_t>(quota);
}

std::int64_t shares_to_weight(std::int64_t shares) {
  if (shares < kMinCpuShares) shares = kMinCpuShares;
  if (shares > kMaxCpuShares) shares = kMaxCpuShares;
  return 1 + ((shares - 2) * 9999) / 262142;
}

Limits bocker_env_defaults(const std::map<std::string, std::string>& env) {
  auto number = [&](const char* name, std::int64_t fallback) -> std::int64_t {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) return fallback;
    const std::string& v = it->second;
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 0) {
      throw invalid(std::string(name) + "=" + quoted(v) + " is not a non-negative integer");
    }
    return n;
  };
  Limits l;
  l.cpu_shares = number("BOCKER_CPU_SHARE", 512);
  std::int64_t mb = number("BOCKER_MEM_LIMIT", 512);
  if (mb > kMax / 1000000) throw invalid("BOCKER_MEM_LIMIT=" + std::to_string(mb) + " is too large");
  l.memory_bytes = mb * 1000000;
  return l;
}

}  // namespace bocker::cgroup
