#include "bocker/metrics/container_collector.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/cgroup/stats.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::metrics {

namespace {

using Label = prometheus::ClientMetric::Label;

// Reads a whole (small, pseudo-)file into `buf`, reusing its capacity. False when it cannot be
// opened or read (a container that just exited, a controller that is not mounted).
bool read_into(const char* path, std::string& buf) {
  buf.clear();
  Fd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  if (buf.capacity() < 4096) buf.reserve(4096);
  for (;;) {
    std::size_t have = buf.size();
    if (buf.capacity() - have < 1024) buf.reserve(buf.capacity() * 2);
    buf.resize(buf.capacity());
    ssize_t n = ::read(fd.get(), buf.data() + have, buf.size() - have);
    if (n < 0) {
      if (errno == EINTR) {
        buf.resize(have);
        continue;
      }
      buf.clear();
      return false;
    }
    buf.resize(have + static_cast<std::size_t>(n));
    if (n == 0) return true;
  }
}

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::uint64_t to_u64(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : 0;
}

struct NetDev {
  std::string_view name;
  std::uint64_t rx_bytes, rx_packets, rx_errors, tx_bytes, tx_packets, tx_errors;
};

// /proc/<pid>/net/dev: two header lines, then "  eth0: rx_bytes rx_packets rx_errs rx_drop rx_fifo
// rx_frame rx_compressed rx_multicast tx_bytes tx_packets tx_errs ...". Loopback is skipped.
template <typename Fn>
void parse_net_dev(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (name.empty() || name == "lo" || name.find('|') != std::string_view::npos) continue;
    std::uint64_t f[11] = {};
    std::string_view rest = line.substr(colon + 1);
    int i = 0;
    while (i < 11 && !rest.empty()) {
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f[i]);
      if (ec != std::errc()) break;
      rest.remove_prefix(static_cast<std::size_t>(p - rest.data()));
      ++i;
    }
    if (i < 11) continue;  // malformed line
    fn(NetDev{name, f[0], f[1], f[2], f[8], f[9], f[10]});
  }
}

// The families, in output order.
enum Fam : int {
  kCpuTotal,
  kCpuUser,
  kCpuSystem,
  kMemUsage,
  kMemWorkingSet,
  kMemRss,
  kMemCache,
  kMemLimit,
  kCpuShares,
  kOom,
  kProcesses,
  kNetRxBytes,
  kNetTxBytes,
  kNetRxPackets,
  kNetTxPackets,
  kNetRxErrors,
  kNetTxErrors,
  kFsReads,
  kFsWrites,
  kStartTime,
  kLastSeen,
  kState,
  kRestarts,
  kExitCode,
  kFamCount
};

struct FamDef {
  const char* name;
  const char* help;
  bool counter;
};

constexpr FamDef kFams[kFamCount] = {
    {"container_cpu_usage_seconds_total", "Cumulative CPU time consumed by the container in seconds.", true},
    {"container_cpu_user_seconds_total", "Cumulative user CPU time consumed by the container in seconds.",
     true},
    {"container_cpu_system_seconds_total", "Cumulative system CPU time consumed by the container in seconds.",
     true},
    {"container_memory_usage_bytes", "Current memory usage of the container in bytes, including page cache.",
     false},
    {"container_memory_working_set_bytes",
     "Current working set of the container in bytes (usage minus inactive file cache).", false},
    {"container_memory_rss", "Anonymous memory (RSS) of the container in bytes.", false},
    {"container_memory_cache", "Page cache memory of the container in bytes.", false},
    {"container_spec_memory_limit_bytes", "Memory limit of the container in bytes, 0 when unlimited.", false},
    {"container_spec_cpu_shares", "CPU shares (relative weight) of the container.", false},
    {"container_oom_events_total", "Processes of the container killed by the OOM killer.", true},
    {"container_processes", "Processes (tasks) currently in the container.", false},
    {"container_network_receive_bytes_total", "Bytes received by the container, by interface.", true},
    {"container_network_transmit_bytes_total", "Bytes transmitted by the container, by interface.", true},
    {"container_network_receive_packets_total", "Packets received by the container, by interface.", true},
    {"container_network_transmit_packets_total", "Packets transmitted by the container, by interface.", true},
    {"container_network_receive_errors_total", "Receive errors of the container, by interface.", true},
    {"container_network_transmit_errors_total", "Transmit errors of the container, by interface.", true},
    {"container_fs_reads_bytes_total", "Bytes read from block devices by the container.", true},
    {"container_fs_writes_bytes_total", "Bytes written to block devices by the container.", true},
    {"container_start_time_seconds", "Start time of the container since the unix epoch in seconds.", false},
    {"container_last_seen", "Last time the container was seen by the exporter, unix seconds.", false},
    {"bocker_container_state", "Container state: one series per state, 1 for the current one.", false},
    {"bocker_container_restarts_total", "Restarts of the container by its restart policy.", true},
    {"bocker_container_exit_code", "Exit code of the container's last run (0 before it ever exits).", false},
};

// v2 cpu.weight back to v1 shares (inverse of cgroup::shares_to_weight).
std::uint64_t weight_to_shares(std::uint64_t weight) {
  if (weight == 0) return 0;
  return 2 + ((weight - 1) * 262142) / 9999;
}

}  // namespace

std::vector<prometheus::MetricFamily> collect_containers(const std::vector<ContainerSample>& containers,
                                                         const ContainerCollectorOptions& opts) {
  std::vector<prometheus::MetricFamily> fams(kFamCount);
  for (int i = 0; i < kFamCount; ++i) {
    fams[i].name = kFams[i].name;
    fams[i].help = kFams[i].help;
    fams[i].type = kFams[i].counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
    fams[i].metric.reserve(i == kState ? containers.size() * kContainerStates.size() : containers.size());
  }
  double now =
      opts.now ? opts.now()
               : std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  // Buffers reused across containers: the file text and the by-basename map parse_stats wants
  // (values emptied rather than erased: an empty file parses like a missing one).
  std::string buf;
  std::map<std::string, std::string> by_name;
  std::string net_path;

  for (const ContainerSample& c : containers) {
    std::vector<Label> labels = {{"id", c.id}, {"image", c.image}, {"name", c.name}};
    auto put = [&](int fam, double v) {
      auto& m = fams[fam].metric.emplace_back();
      m.label = labels;
      if (kFams[fam].counter) {
        m.counter.value = v;
      } else {
        m.gauge.value = v;
      }
    };

    std::uint64_t oom = c.oom_events;
    if (c.cgroup) {
      for (auto& [name, text] : by_name) text.clear();
      std::uint64_t cpu_shares = 0;
      bool any = false;
      for (const std::string& path : c.cgroup->files) {
        if (!read_into(path.c_str(), buf)) continue;
        any = true;
        std::string_view base = basename(path);
        if (base == "cpu.shares") {
          cpu_shares = to_u64(buf);
        } else if (base == "cpu.weight") {
          cpu_shares = weight_to_shares(to_u64(buf));
        } else {
          auto it = by_name.find(std::string(base));
          if (it == by_name.end()) it = by_name.emplace(std::string(base), std::string()).first;
          it->second.swap(buf);
        }
      }
      if (any) {
        cgroup::Stats s =
            c.cgroup->version == 2 ? cgroup::parse_stats_v2(by_name) : cgroup::parse_stats_v1(by_name);
        put(kCpuTotal, static_cast<double>(s.cpu_usage_ns) / 1e9);
        put(kCpuUser, static_cast<double>(s.cpu_user_ns) / 1e9);
        put(kCpuSystem, static_cast<double>(s.cpu_system_ns) / 1e9);
        put(kMemUsage, static_cast<double>(s.memory_usage));
        put(kMemWorkingSet, static_cast<double>(s.memory_working_set));
        put(kMemRss, static_cast<double>(s.memory_rss));
        put(kMemCache, static_cast<double>(s.memory_cache));
        put(kMemLimit, static_cast<double>(s.memory_limit));
        put(kCpuShares, static_cast<double>(cpu_shares));
        put(kProcesses, static_cast<double>(s.pids_current));
        put(kFsReads, static_cast<double>(s.io_read_bytes));
        put(kFsWrites, static_cast<double>(s.io_write_bytes));
        oom = std::max(oom, s.oom_events);
        put(kOom, static_cast<double>(oom));
      }
    }

    if (c.pid > 0 && c.own_netns) {
      net_path.assign(opts.proc_root);
      net_path += '/';
      net_path += std::to_string(c.pid);
      net_path += "/net/dev";
      if (read_into(net_path.c_str(), buf)) {
        parse_net_dev(buf, [&](const NetDev& d) {
          auto add = [&](int fam, std::uint64_t v) {
            auto& m = fams[fam].metric.emplace_back();
            m.label = labels;
            m.label.push_back({"interface", std::string(d.name)});
            m.counter.value = static_cast<double>(v);
          };
          add(kNetRxBytes, d.rx_bytes);
          add(kNetTxBytes, d.tx_bytes);
          add(kNetRxPackets, d.rx_packets);
          add(kNetTxPackets, d.tx_packets);
          add(kNetRxErrors, d.rx_errors);
          add(kNetTxErrors, d.tx_errors);
        });
      }
    }

    if (c.start_time > 0) put(kStartTime, c.start_time);
    put(kLastSeen, now);
    for (std::string_view st : kContainerStates) {
      auto& m = fams[kState].metric.emplace_back();
      m.label = labels;
      m.label.push_back({"state", std::string(st)});
      m.gauge.value = st == c.state ? 1 : 0;
    }
    put(kRestarts, c.restarts);
    put(kExitCode, c.exit_code);
  }
  return fams;
}

namespace {

class ContainerCollector : public prometheus::Collectable {
 public:
  ContainerCollector(SnapshotFn snapshot, ContainerCollectorOptions opts)
      : snapshot_(std::move(snapshot)), opts_(std::move(opts)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    return collect_containers(snapshot_(), opts_);
  }

 private:
  SnapshotFn snapshot_;
  ContainerCollectorOptions opts_;
};

const std::vector<double> kPullBuckets = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
const std::vector<double> kStartBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

std::shared_ptr<const CgroupFiles> cgroup_files(const cgroup::Cgroup& cg, int version) {
  auto out = std::make_shared<CgroupFiles>();
  out->version = version;
  out->files = cg.stat_files();
  // cpu.stat lives in the cpu controller's directory on both versions.
  const char* shares_name = version == 2 ? "cpu.weight" : "cpu.shares";
  for (const std::string& f : out->files) {
    if (basename(f) == "cpu.stat") {
      std::string dir = f.substr(0, f.rfind('/'));
      out->files.push_back(dir + "/" + shares_name);
      break;
    }
  }
  return out;
}

std::shared_ptr<prometheus::Collectable> container_collector(SnapshotFn snapshot,
                                                             ContainerCollectorOptions options) {
  return std::make_shared<ContainerCollector>(std::move(snapshot), std::move(options));
}

void EngineMetrics::begin_pull(std::string_view registry) const {
  prometheus::Labels l{{"registry", std::string(registry)}};
  pull_duration->Add(l, kPullBuckets);
  pull_bytes->Add(l);
}

void EngineMetrics::observe_pull(std::string_view registry, double seconds, std::uint64_t bytes) const {
  prometheus::Labels l{{"registry", std::string(registry)}};
  pull_duration->Add(l, kPullBuckets).Observe(seconds);
  pull_bytes->Add(l).Increment(static_cast<double>(bytes));
}

void EngineMetrics::observe_log(std::string_view stream, std::uint64_t bytes) const {
  (stream == "stderr" ? log_stderr_bytes : log_stdout_bytes)->Increment(static_cast<double>(bytes));
}

EngineMetrics make_engine_metrics(Metrics& m) {
  prometheus::Registry& r = m.registry();
  EngineMetrics e;
  e.pull_duration = &prometheus::BuildHistogram()
                         .Name("bocker_image_pull_duration_seconds")
                         .Help("Duration of image pulls in seconds, by registry.")
                         .Register(r);
  e.pull_bytes = &prometheus::BuildCounter()
                      .Name("bocker_image_pull_bytes_total")
                      .Help("Bytes of layers downloaded by image pulls, by registry.")
                      .Register(r);
  e.layer_download_bytes = &prometheus::BuildCounter()
                                .Name("bocker_layer_download_bytes_total")
                                .Help("Compressed layer bytes downloaded from registries.")
                                .Register(r)
                                .Add({});
  e.layer_extract_bytes = &prometheus::BuildCounter()
                               .Name("bocker_layer_extract_bytes_total")
                               .Help("Uncompressed layer bytes extracted into the storage driver.")
                               .Register(r)
                               .Add({});
  e.container_start = &prometheus::BuildHistogram()
                           .Name("bocker_container_start_duration_seconds")
                           .Help("Latency of container starts in seconds, from the start request to running.")
                           .Register(r)
                           .Add({}, kStartBuckets);
  auto& logs = prometheus::BuildCounter()
                   .Name("bocker_log_bytes_total")
                   .Help("Bytes of container output captured by the log driver, by stream.")
                   .Register(r);
  e.log_stdout_bytes = &logs.Add({{"stream", "stdout"}});
  e.log_stderr_bytes = &logs.Add({{"stream", "stderr"}});
  return e;
}

}  // namespace bocker::metrics
