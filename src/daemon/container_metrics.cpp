// ContainerService::samples(): what the /metrics container collector needs from the records,
// copied on the loop thread (the collector reads the cgroup files on a worker thread).
#include <algorithm>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/daemon/container_service.hpp"
#include "bocker/metrics/container_collector.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

namespace {

// Docker's State.Status for bocker's status ("created", "running", "restarting", "removing",
// "exited"); anything else (which bocker never records) as "dead".
std::string_view state_of(const Container& c) {
  if (c.running() && c.paused) return "paused";
  for (std::string_view s : metrics::kContainerStates) {
    if (c.status == s) return s;
  }
  return "dead";
}

}  // namespace

std::vector<metrics::ContainerSample> ContainerService::samples() const {
  std::vector<metrics::ContainerSample> out;
  out.reserve(by_id_.size());
  for (const auto& [id, cp] : by_id_) {
    Container& c = *cp;
    if (c.gone) continue;
    metrics::ContainerSample& s = out.emplace_back();
    s.id = c.id;
    s.name = c.name;
    s.image = c.image;
    s.state = state_of(c);
    if (c.cg && cgroups_) {
      // The files of a container's cgroup depend only on its id: built at the first scrape that
      // sees the cgroup, kept for every later one (and every later run).
      if (!c.metric_files) c.metric_files = metrics::cgroup_files(*c.cg, cgroups_->version());
      s.cgroup = c.metric_files;
    }
    s.pid = c.running() ? c.pid : 0;
    const json* mode = c.host_config.is_object() && c.host_config.contains("NetworkMode")
                           ? &c.host_config.at("NetworkMode")
                           : nullptr;
    s.own_netns = !(mode != nullptr && mode->is_string() && *mode == "host");
    s.start_time = c.started_ns > 0 ? static_cast<double>(c.started_ns) / 1e9 : 0;
    s.restarts = c.restart_count;
    s.exit_code = c.exit_code;
    s.oom_events = c.oom_killed ? 1 : 0;
  }
  return out;
}

}  // namespace bocker::daemon
