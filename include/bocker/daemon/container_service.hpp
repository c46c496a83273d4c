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
#include "bocker/container/spawn.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/scope.hpp"
#include "bocker/volume/mounts.hpp"

namespace bocker::cgroup {
class Manager;
}
namespace bocker::metrics {
struct ContainerSample;
struct EngineMetrics;
}  // namespace bocker::metrics

namespace bocker::api {
class Events;
}

namespace bocker::daemon {

class ImageService;
struct Container;
struct Exec;
class NetworkManager;
class FdKeeper;

class ContainerService final : public api::ContainerBackend {
 public:
  // Blocking: loads <root>/containers; containers that were running are marked exited.
  ContainerService(std::string root, ImageService& images);
  ~ContainerService() override;

  rt::Task<nlohmann::json> create(nlohmann::json body, std::string name) override;
  rt::Task<void> start(std::string name) override;
  rt::Task<void> stop(std::string name, int timeout_s) override;
  rt::Task<void> kill(std::string name, std::string signal) override;
  rt::Task<void> pause(std::string name) override;
  rt::Task<void> unpause(std::string name) override;
  // container_manage.cpp
  rt::Task<nlohmann::json> top(std::string name, std::string ps_args) override;
  rt::Task<void> rename(std::string name, std::string new_name) override;
  rt::Task<nlohmann::json> prune(nlohmann::json filters) override;
  rt::Task<void> restart(std::string name, int timeout_s) override;
  rt::Task<void> remove(std::string name, bool force, bool volumes) override;
  rt::Task<nlohmann::json> list(bool all) override;
  rt::Task<nlohmann::json> inspect(std::string name) override;
  rt::Task<void> wait(std::string name, std::string condition, http::ResponseWriter& w) override;
  rt::Task<void> attach(std::string name, api::AttachOptions opts, http::Request& req, http::ResponseWriter& w) override;
  rt::Task<void> logs(std::string name, api::LogsOptions opts, http::ResponseWriter& w) override;
  rt::Task<void> resize(std::string name, int h, int w) override;
  rt::Task<std::string> exec_create(std::string name, api::ExecCreateRequest req) override;  // container_exec.cpp
  rt::Task<void> exec_start(std::string exec_id, bool detach, http::Request& req, http::ResponseWriter& w) override;
  rt::Task<nlohmann::json> exec_inspect(std::string exec_id) override;
  rt::Task<void> exec_resize(std::string exec_id, int h, int w) override;
  rt::Task<void> stats(std::string name, bool stream, bool one_shot, http::ResponseWriter& w) override;  // container_stats.cpp
  rt::Task<std::string> commit(api::CommitRequest req) override;  // image_commit.cpp
  // container_restart.cpp: starts the `always` (and not manually stopped `unless-stopped`)
  // containers that are not running. Call on the loop once the API is up.
  void restart_on_daemon_start();
  int count_running() const override;
  int count_paused() const override;
  int count_all() const override;
  // container_metrics.cpp: every container for the /metrics collector. On the loop thread; cheap
  // (copies of the records' fields, no file I/O).
  std::vector<metrics::ContainerSample> samples() const;
  // Start latency and captured log bytes go to `m` (owned by the daemon, outlives the service).
  void set_engine_metrics(const metrics::EngineMetrics* m) { engine_metrics_ = m; }
  void set_events(api::Events* e) { events_ = e; }  // docker events (null: none)

  bool image_in_use(const std::string& image_id) const;
  // Until the background cleanups of --rm containers are done (container_autoremove.cpp).
  rt::Task<void> settle();
  // Volumes (container_volumes.cpp): the store the containers' volumes live in (owned by the
  // daemon, outlives the service), and the ids of the containers that mount volume `name`.
  void set_volume_store(volume::Store* store) { volumes_ = store; }
  std::vector<std::string> volume_users(const std::string& name) const;
  // Kills nothing (containers outlive the daemon); stops supervising. Call before the loop ends.
  rt::Task<void> shutdown();
  // Live restore (container_restore.cpp), once on the loop before serving: re-adopts the
  // containers recorded as running whose process still lives (same pid and start time), resumes
  // their log capture and supervision; marks the others exited and sweeps leftover cgroups.
  rt::Task<void> restore();
  // Bridge networking (container_network.cpp), once on the loop after restore(): creates the
  // bridge, sweeps what containers that are not running left, re-adopts the running ones'
  // endpoints and port proxies. A failure is logged; bridge-mode starts then fail with it.
  // bridge "none": no bridge; nft_table "" = derived from the bridge name.
  rt::Task<void> configure_network(std::string bridge, std::string subnet, std::string nft_table);

 private:
  Container& find(const std::string& name_or_id) const;
  rt::Task<void> supervise(Container& c);
  rt::Task<void> supervisor(Container& c);  // capture, supervise, drain, destroy (container_restore.cpp)
  // container_restore.cpp: a -t container's pty master also goes to the fd keeper, so its
  // terminal outlives a daemon restart (fd_keeper.hpp); failures are logged.
  rt::Task<void> keep_terminal(Container& c);
  rt::Task<void> record(Container& c, int stream, std::string_view data);
  // The FIFO's queued bytes straight into the log (log_splice) when nobody is attached; 0: not
  // done, read the FIFO and record() what it gives.
  rt::Task<std::size_t> record_spliced(Container& c, int stream, int fifo);
  void output_logged(Container& c, int stream, std::size_t bytes);  // metrics, wake followers
  rt::Task<void> save(Container& c);
  rt::Task<void> destroy(Container& c);
  rt::Task<void> release_cgroup(Container& c);  // kill what is left, remove; failures logged
  // Freezes or thaws c's cgroup on a worker and records it (c.paused, saved).
  rt::Task<void> set_paused(Container& c, bool paused);
  // After a SIGKILL to a paused container: thaw it, so the kill takes effect (v1 freezer).
  rt::Task<void> thaw_for_kill(Container& c);
  rt::Task<void> remove_files(Container& c);    // rootfs and state dir
  // container_autoremove.cpp: --rm after the exit: out of the API now, cleanup in the background.
  rt::Task<void> auto_remove(Container& c);
  rt::Task<void> teardown_removed(std::unique_ptr<Container> owned);
  // container_restart.cpp: after an exit, restarts `c` if its policy says so (waiting out the
  // backoff). True when the container was restarted or the wait ended it.
  rt::Task<bool> restart_by_policy(Container& c);
  std::pair<Container*, std::shared_ptr<Exec>> find_exec(const std::string& exec_id) const;
  // container_volumes.cpp: creates the volumes that the mounts planned by parse_create() need
  // (removed again on failure); the created names go to `created`.
  rt::Task<std::vector<volume::MountPoint>> create_mounts(std::vector<volume::MountPoint> mounts,
                                                           std::vector<std::string>& created);
  // Removes volumes `names` unless another container uses them (on a failed create or rm -v).
  rt::Task<void> drop_volumes(std::vector<std::string> names, std::string except_id);
  // What spawn() mounts for `c` (sources checked, -v host directories made again, empty new
  // volumes filled with the image's content on the first start).
  rt::Task<std::vector<container::Mount>> start_mounts(Container& c);
  // rm -v / --rm: the container's anonymous volumes go.
  rt::Task<void> remove_anonymous_volumes(const Container& c);

  std::string root_;
  ImageService& images_;
  std::map<std::string, std::unique_ptr<Container>> by_id_;
  std::map<std::string, std::string> names_;  // name (without '/') -> id
  std::unique_ptr<cgroup::Manager> cgroups_;  // null when the host has no usable cgroups
  std::set<std::string> cgroup_parents_;      // <hierarchy>/bocker dirs, removed at shutdown when empty
  std::unique_ptr<NetworkManager> network_;  // container_network.cpp
  std::unique_ptr<FdKeeper> keeper_;         // -t containers' pty masters across restarts
  const metrics::EngineMetrics* engine_metrics_ = nullptr;  // null: not measured
  api::Events* events_ = nullptr;
  // A container event for docker events: attributes name, image, the container's labels, `extra`.
  void emit(const Container& c, const char* action, std::map<std::string, std::string> extra = {});
  volume::Store* volumes_ = nullptr;                        // container_volumes.cpp
  int pending_teardowns_ = 0;      // --rm cleanups still running (container_autoremove.cpp)
  rt::Notifier teardowns_idle_;    // pending_teardowns_ reached 0
  rt::TaskScope supervisors_;
};

}  // namespace bocker::daemon
