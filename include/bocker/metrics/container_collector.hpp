// Per-container metrics under cAdvisor's names (container_cpu_usage_seconds_total, ...), read at
// scrape time from each container's cgroup (v1 or v2) and network namespace, plus bocker's own
// container state series; and the engine's event metrics (pulls, layers, start latency, logs).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/metrics/metrics.hpp"

namespace bocker::cgroup {
class Cgroup;
}

namespace bocker::metrics {

// The files of one container's cgroup that a scrape reads. Build it once per container (when its
// cgroup is created or opened) and share it with every snapshot: a scrape then allocates no paths.
struct CgroupFiles {
  int version = 0;                 // 1 or 2
  std::vector<std::string> files;  // absolute paths; each file's basename says what it holds
};

// Cgroup::stat_files() plus cpu.shares (v1) or cpu.weight (v2) from the cpu controller's directory.
// `version` is the Manager's version(). Reads nothing.
std::shared_ptr<const CgroupFiles> cgroup_files(const cgroup::Cgroup& cg, int version);

// The states bocker_container_state has a series for (docker's State.Status values).
inline constexpr std::array<std::string_view, 7> kContainerStates = {
    "created", "running", "paused", "restarting", "removing", "exited", "dead"};

// One container as the daemon sees it at scrape time: cheap to fill from the container record.
struct ContainerSample {
  std::string id;                             // full id
  std::string name;                           // without the leading '/'
  std::string image;                          // the image reference the container was created from
  std::string state;                          // one of kContainerStates
  std::shared_ptr<const CgroupFiles> cgroup;  // null: no cgroup (no cAdvisor series for it)
  pid_t pid = 0;                              // the container's init process while it runs, else 0
  bool own_netns = true;         // false for --network host: its /proc/<pid>/net/dev is the host's
  double start_time = 0;         // unix seconds of the last start, 0 = never started
  int restarts = 0;              // restarts by the restart policy
  int exit_code = 0;             // last exit code (0 while it never exited)
  std::uint64_t oom_events = 0;  // OOM kills the daemon recorded; the cgroup's count wins when larger
};

// Called once per Collect(), on the thread that scrapes.
using SnapshotFn = std::function<std::vector<ContainerSample>()>;

struct ContainerCollectorOptions {
  std::string proc_root = "/proc";        // where <pid>/net/dev is read (tests point it elsewhere)
  std::function<double()> now = nullptr;  // unix seconds for container_last_seen; null = the clock
};

// A collector for Metrics::add_collector(). Every Collect() calls `snapshot`, then reads each
// container's cgroup files (one open/read/close per file into reused buffers; a missing file counts
// as zeros, a container whose files are all gone gets only its state series) and
// /proc/<pid>/net/dev (loopback skipped). Only the containers in the snapshot have series, so
// series of removed containers disappear. Blocking file I/O: scrape from a worker thread.
std::shared_ptr<prometheus::Collectable> container_collector(SnapshotFn snapshot,
                                                             ContainerCollectorOptions options = {});

// What one Collect() of container_collector() returns, for a snapshot taken by the caller: lets a
// daemon take the snapshot on its loop thread and do the (blocking) reads on a worker thread.
// Touches nothing but `containers`, the files and the clock: safe to run on several threads at once.
std::vector<prometheus::MetricFamily> collect_containers(const std::vector<ContainerSample>& containers,
                                                         const ContainerCollectorOptions& options = {});

// Metric families the engine updates as things happen (registered on a Metrics registry).
struct EngineMetrics {
  prometheus::Family<prometheus::Histogram>* pull_duration = nullptr;  // {registry}
  prometheus::Family<prometheus::Counter>* pull_bytes = nullptr;       // {registry}
  prometheus::Counter* layer_download_bytes = nullptr;
  prometheus::Counter* layer_extract_bytes = nullptr;
  prometheus::Histogram* container_start = nullptr;  // create-to-running latency of docker start
  prometheus::Counter* log_stdout_bytes = nullptr;   // bocker_log_bytes_total{stream="stdout"}
  prometheus::Counter* log_stderr_bytes = nullptr;   // bocker_log_bytes_total{stream="stderr"}

  // A pull from `registry` begins: its series exist (at zero) from now on, so a scrape before the
  // first pull ends gives rate() and histogram_quantile() a starting point.
  void begin_pull(std::string_view registry) const;
  // One finished pull from `registry` (host[:port], "docker.io" for Docker Hub).
  void observe_pull(std::string_view registry, double seconds, std::uint64_t bytes) const;
  // Bytes of container output captured by the log driver; stream is "stdout" or "stderr".
  void observe_log(std::string_view stream, std::uint64_t bytes) const;
};

// Registers bocker_image_pull_duration_seconds, bocker_image_pull_bytes_total,
// bocker_layer_download_bytes_total, bocker_layer_extract_bytes_total,
// bocker_container_start_duration_seconds and bocker_log_bytes_total on `m`. Call once per Metrics.
EngineMetrics make_engine_metrics(Metrics& m);

}  // namespace bocker::metrics
