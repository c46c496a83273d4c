// Containers inside bockerd: create, start (a spawned PID 1 in new namespaces on a rootfs from
// the storage driver), supervision on the loop (exit through the pidfd, output captured from
// pipes or a pty into a compact log file and to attached clients), wait, attach, logs, stop,
// kill, remove (and --rm), persisted state.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bocker/api/backend.hpp"
#include "bocker/runtime/scope.hpp"

namespace bocker::cgroup {
class Manager;
}
namespace bocker::metrics {
struct ContainerSample;
struct EngineMetrics;
}  // namespace bocker::metrics

namespace bocker::daemon {

class ImageService;
struct Container;

class ContainerService final : public api::ContainerBackend {
 public:
  // Blocking: loads <root>/containers; containers that were running are marked exited.
  ContainerService(std::string root, ImageService& images);
  ~ContainerService() override;

  rt::Task<nlohmann::json> create(nlohmann::json body, std::string name) override;
  rt::Task<void> start(std::string name) override;
  rt::Task<void> stop(std::string name, int timeout_s) override;
  rt::Task<void> kill(std::string name, std::string signal) override;
  rt::Task<void> restart(std::string name, int timeout_s) override;
  rt::Task<void> remove(std::string name, bool force, bool volumes) override;
  rt::Task<nlohmann::json> list(bool all) override;
  rt::Task<nlohmann::json> inspect(std::string name) override;
  rt::Task<void> wait(std::string name, std::string condition, http::ResponseWriter& w) override;
  rt::Task<void> attach(std::string name, api::AttachOptions opts, http::Request& req, http::ResponseWriter& w) override;
  rt::Task<void> logs(std::string name, api::LogsOptions opts, http::ResponseWriter& w) override;
  rt::Task<void> resize(std::string name, int h, int w) override;
  int count_running() const override;
  int count_all() const override;
  // container_metrics.cpp: every container for the /metrics collector. On the loop thread; cheap
  // (copies of the records' fields, no file I/O).
  std::vector<metrics::ContainerSample> samples() const;
  // Start latency and captured log bytes go to `m` (owned by the daemon, outlives the service).
  void set_engine_metrics(const metrics::EngineMetrics* m) { engine_metrics_ = m; }

  bool image_in_use(const std::string& image_id) const;
  // Kills nothing (containers outlive the daemon); stops supervising. Call before the loop ends.
  rt::Task<void> shutdown();

 private:
  Container& find(const std::string& name_or_id) const;
  rt::Task<void> supervise(Container& c);
  rt::Task<void> record(Container& c, int stream, std::string_view data);
  rt::Task<void> save(Container& c);
  rt::Task<void> destroy(Container& c);

  std::string root_;
  ImageService& images_;
  std::map<std::string, std::unique_ptr<Container>> by_id_;
  std::map<std::string, std::string> names_;  // name (without '/') -> id
  std::unique_ptr<cgroup::Manager> cgroups_;  // null when the host has no usable cgroups
  std::set<std::string> cgroup_parents_;      // <hierarchy>/bocker dirs, removed at shutdown when empty
  const metrics::EngineMetrics* engine_metrics_ = nullptr;  // null: not measured
  rt::TaskScope supervisors_;
};

}  // namespace bocker::daemon
