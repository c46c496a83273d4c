#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/create_spec.hpp"
#include "container_record.hpp"
#include "container_network.hpp"
#include "container_logs.hpp"
#include "fd_keeper.hpp"
#include "bocker/api/events.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <random>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/cgroup/limits.hpp"
#include "bocker/container/spawn.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/metrics/container_collector.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"

namespace bocker::daemon {

using nlohmann::json;

ContainerService::ContainerService(std::string root, ImageService& images)
    : root_(std::move(root) + "/containers"), images_(images) {
  make_dirs(root_, 0710);
  try {
    cgroups_ = cgroup::Manager::detect("bocker");
  } catch (const std::exception& e) {
    log_line(std::string("containers: no cgroups, limits will not be applied: ") + e.what());
  }
  images_.image_in_use = [this](const std::string& id) { return image_in_use(id); };
  images_.settle_containers = [this] { return settle(); };
  network_ = std::make_unique<NetworkManager>();  // bridge set up by configure_network()
  keeper_ = std::make_unique<FdKeeper>(root_.substr(0, root_.rfind('/')));  // root_ is <root>/containers
  // Leftover cgroups are swept by restore(), once it knows which containers still run.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    std::string path = entry.path().string() + "/config.json";
    try {
      json j = json::parse(read_file(path));
      auto c = std::make_unique<Container>();
      c->id = j.at("Id");
      c->name = j.at("Name");
      c->image = j.value("Image", "");
      c->image_id = j.value("ImageID", "");
      c->layer = j.value("Layer", "");
      c->created_ns = j.value("Created", std::int64_t{0});
      c->config = j.value("Config", json::object());
      c->host_config = j.value("HostConfig", json::object());
      c->argv = j.value("Argv", std::vector<std::string>{});
      c->status = j.value("Status", "exited");
      c->paused = j.value("Paused", false);  // restore() asks the kernel for running ones
      if (c->status == "removing") c->status = "exited";  // "running": restore() re-adopts or marks exited
      c->pid = j.value("Pid", 0);
      c->pid_start = j.value("PidStartTime", std::uint64_t{0});
      c->exit_code = j.value("ExitCode", 0);
      c->oom_killed = j.value("OOMKilled", false);
      c->error = j.value("Error", "");
      c->started_ns = j.value("StartedAt", std::int64_t{0});
      c->finished_ns = j.value("FinishedAt", std::int64_t{0});
      c->restart_count = j.value("RestartCount", 0);
      c->manual_stop = j.value("ManualStop", false);
      c->rootfs = j.value("Rootfs", "");
      c->mounts = volume::mounts_from_json(j.value("Mounts", json::array()));
      c->dir = entry.path().string();
      names_[c->name] = c->id;
      by_id_[c->id] = std::move(c);
    } catch (const std::exception& e) {
      // No record or an empty one: a create that crashed before its first save, or a --rm
      // container's record (not fsynced) after a power loss. Its rootfs and dir go. Anything
      // else (a damaged durable record) is left for a human.
      std::string id = entry.path().filename().string();
      std::error_code ec2;
      auto size = std::filesystem::file_size(path, ec2);
      bool absent = ec2 == std::errc::no_such_file_or_directory;
      if (entry.is_directory() && (absent || (!ec2 && size == 0)) && id.size() == 64) {
        try {
          images_.driver().remove_rootfs(id);
        } catch (const Error& re) {
          if (re.kind() != Error::Kind::kNotFound) log_line("containers: leftover " + id.substr(0, 12) + ": " + re.what());
        } catch (const std::exception& re) {
          log_line("containers: leftover " + id.substr(0, 12) + ": " + re.what());
        }
        std::filesystem::remove_all(entry.path(), ec2);
        log_line("containers: removed leftover " + entry.path().string() + " (" +
                 (absent ? "no record" : "empty record") + ")");
        continue;
      }
      log_line("containers: skipping " + path + ": " + e.what());
    }
  }
}

ContainerService::~ContainerService() = default;

bool ContainerService::image_in_use(const std::string& image_id) const {
  for (const auto& [id, c] : by_id_) {
    if (c->image_id == image_id) return true;
  }
  return false;
}

int ContainerService::count_running() const {
  int n = 0;
  for (const auto& [id, c] : by_id_) n += c->running() ? 1 : 0;
  return n;
}
void ContainerService::emit(const Container& c, const char* action, std::map<std::string, std::string> extra) {
  if (events_ == nullptr) return;
  api::Event e;
  e.type = "container";
  e.action = action;
  e.id = c.id;
  json labels = c.config.value("Labels", json::object());
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.value().is_string()) e.attributes[it.key()] = it.value().get<std::string>();
    }
  }
  e.attributes["name"] = c.name;
  e.attributes["image"] = c.image;
  for (auto& [k, v] : extra) e.attributes[k] = std::move(v);
  events_->publish(std::move(e));
}

int ContainerService::count_paused() const {
  int n = 0;
  for (const auto& [id, c] : by_id_) n += c->running() && c->paused ? 1 : 0;
  return n;
}
int ContainerService::count_all() const { return static_cast<int>(by_id_.size()); }

Container& ContainerService::find(const std::string& name_or_id) const {
  std::string key = name_or_id;
  if (!key.empty() && key[0] == '/') key.erase(0, 1);
  if (auto it = by_id_.find(key); it != by_id_.end()) return *it->second;
  if (auto it = names_.find(key); it != names_.end()) return *by_id_.at(it->second);
  Container* hit = nullptr;
  if (!key.empty() && key.size() < 64) {
    for (const auto& [id, c] : by_id_) {
      if (id.compare(0, key.size(), key) == 0) {
        if (hit != nullptr) throw invalid("multiple IDs found with provided prefix: " + key);
        hit = c.get();
      }
    }
  }
  if (hit == nullptr) throw not_found("No such container: " + name_or_id);
  return *hit;
}

rt::Task<void> ContainerService::save(Container& c) {
  std::string path = c.dir + "/config.json";
  std::string data = c.to_json().dump();
  // A --rm container's record is worthless after a power loss (it would be removed at the next
  // start): atomic, but no fsync on its path from create to exit. An empty or missing record at
  // start is cleaned up (ContainerService()).
  bool durable = !c.host_config.value("AutoRemove", false);
  co_await rt::offload([&path, &data, durable] { write_file_atomic(path, data, 0600, durable); });
}

rt::Task<json> ContainerService::create(json body, std::string name) {
  name = create_name(std::move(name));
  if (auto it = names_.find(name); !name.empty() && it != names_.end()) {
    throw conflict("Conflict. The container name \"/" + name + "\" is already in use by container \"" + it->second +
                   "\". You have to remove (or rename) that container to be able to reuse that name.");
  }
  std::string image = create_image(body);
  std::string image_id = images_.images().resolve(image);  // 404 "No such image" drives the CLI's auto-pull
  image::ImageRecord rec = images_.images().get(image_id);
  registry::ImageConfig icfg = registry::parse_image_config(rec.config_json);
  // Everything else about the body, without side effects (create_spec.cpp). A missing VolumesFrom
  // container is a 400, not a 404: the CLI answers a 404 from create with an image pull.
  CreateSpec spec = parse_create(body, name, icfg, [this](const std::string& from) {
    try {
      return find(from).mounts;
    } catch (const Error& e) {
      if (e.kind() == Error::Kind::kNotFound) throw invalid(std::string(e.what()) + " (in HostConfig.VolumesFrom)");
      throw;
    }
  });
  json& cfg = spec.config;
  json& hc = spec.host_config;
  std::vector<std::string>& argv = spec.argv;
  std::vector<std::string> new_volumes;  // created for this container: removed again on failure
  std::vector<volume::MountPoint> mounts = co_await create_mounts(std::move(spec.mounts), new_volumes);

  auto c = std::make_unique<Container>();
  do {
    c->id = image::random_id();
  } while (by_id_.count(c->id) != 0 || names_.count(c->id.substr(0, 12)) != 0);
  if (name.empty()) {
    name = random_container_name(
        [](const void* names, const std::string& n) {
          return static_cast<const std::map<std::string, std::string>*>(names)->count(n) != 0;
        },
        &names_);
  }
  if (!cfg.contains("Hostname") || cfg["Hostname"].get<std::string>().empty()) cfg["Hostname"] = c->id.substr(0, 12);
  c->name = name;
  c->image = image;
  c->image_id = image_id;
  c->layer = std::string(image::sha256_hex(rec.chain_ids.empty() ? image::chain_id(rec.diff_ids) : rec.chain_ids.back()));
  c->created_ns = now_ns();
  c->config = cfg;
  c->host_config = hc;
  c->argv = argv;
  c->mounts = std::move(mounts);
  c->dir = root_ + "/" + c->id;
  names_[name] = c->id;  // reserve the name while the rootfs is made
  Container& ref = *c;
  by_id_[c->id] = std::move(c);
  std::exception_ptr failure;
  try {
    storage::Driver& drv = images_.driver();
    std::string dir = ref.dir, id = ref.id, layer = ref.layer;
    ref.rootfs = co_await rt::offload([&drv, &dir, &id, &layer] {
      make_dirs(dir, 0700);
      return drv.create_rootfs(id, layer);
    });
    co_await save(ref);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    std::exception_ptr e = failure;
    std::string id = ref.id, dir = ref.dir;
    names_.erase(ref.name);
    by_id_.erase(id);
    storage::Driver& drv = images_.driver();
    co_await rt::offload([&drv, &id, &dir] {
      try {
        drv.remove_rootfs(id);
      } catch (const std::exception&) {
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    co_await drop_volumes(new_volumes, id);
    std::rethrow_exception(e);
  }
  emit(ref, "create");
  co_return json{{"Id", ref.id}, {"Warnings", json::array()}};
}

rt::Task<void> ContainerService::start(std::string name) {
  const auto start_begin = std::chrono::steady_clock::now();  // bocker_container_start_duration_seconds
  Container& c = find(name);
  if (c.running()) throw Error(Error::Kind::kConflict, "container " + c.id.substr(0, 12) + " is already running");
  if (c.status == "removing") throw conflict("container " + c.id.substr(0, 12) + " is being removed");
  c.manual_stop = false;
  bool tty = c.tty();
  bool open_stdin = c.config.value("OpenStdin", false);
  std::string net = c.host_config.value("NetworkMode", "default");

  container::SpawnSpec spec;
  spec.rootfs = c.rootfs;
  spec.argv = c.argv;
  spec.env = c.config.value("Env", std::vector<std::string>{});
  spec.cwd = c.config.value("WorkingDir", "");
  if (spec.cwd.empty()) spec.cwd = "/";
  spec.user = c.config.value("User", "");
  spec.hostname = c.config.value("Hostname", c.id.substr(0, 12));
  spec.new_network = net != "host";
  spec.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  spec.hostname_file = spec.hostname + "\n";
  spec.tty = tty;
  spec.extra_mounts = co_await start_mounts(c);  // container_volumes.cpp

  Pipe in;
  CaptureFds cap;  // stdout/stderr FIFOs in the state dir (container_logs.hpp: why)
  Fd pty_slave;
  if (tty) {
    int m = -1, s = -1;
    if (::openpty(&m, &s, nullptr, nullptr, nullptr) != 0) throw SystemError(errno, "openpty", "container " + c.id);
    c.pty_master.reset(m);
    pty_slave.reset(s);
    ::fcntl(m, F_SETFD, FD_CLOEXEC);
    ::fcntl(s, F_SETFD, FD_CLOEXEC);
    spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = s;
  } else {
    if (open_stdin) {
      in = Pipe::make("stdin");
      spec.stdin_fd = in.r.get();
    }
  }
  // File work off the loop: the host's resolv.conf and the log file.
  {
    Container* cp = &c;
    co_await rt::offload([&spec, &cap, cp, tty] {
      spec.resolv_conf = host_resolv_conf();
      open_log_file(*cp);
      if (!tty) cap = open_capture(cp->dir);
    });
    if (!tty) {
      spec.stdout_fd = cap.out_w.get();
      spec.stderr_fd = cap.err_w.get();
    }
  }

  // The cgroup: limits written before the process runs; v2 clones straight into it, v1 moves
  // the child while it waits at the start gate.
  cgroup::Limits limits;
  const json& hc = c.host_config;
  limits.memory_bytes = int_field(hc, "Memory");
  limits.memory_swap = int_field(hc, "MemorySwap");
  limits.cpu_shares = int_field(hc, "CpuShares");
  if (std::int64_t nano = int_field(hc, "NanoCpus"); nano > 0) {
    limits.cpu_period_us = 100000;
    limits.cpu_quota_us = nano / 10000;  // nano / 1e9 * 100000
  } else {
    limits.cpu_quota_us = int_field(hc, "CpuQuota");
    limits.cpu_period_us = int_field(hc, "CpuPeriod");
  }
  if (std::int64_t pl = int_field(hc, "PidsLimit"); pl > 0) limits.pids_limit = pl;
  if (cgroups_) {
    cgroup::Manager* mgr = cgroups_.get();
    std::string id = c.id;
    c.cg = co_await rt::offload([mgr, &id, &limits] {
      auto cg = mgr->create(id);
      try {
        cg->apply(limits);
      } catch (...) {
        try {
          cg->remove();
        } catch (...) {
        }
        throw;
      }
      return cg;
    });
    spec.cgroup_fd = c.cg->dir_fd_for_clone();
    for (const auto& d : c.cg->dirs()) cgroup_parents_.insert(d.substr(0, d.rfind('/')));
  }

  container::Spawned sp;
  std::optional<container::SpawnError> failed;
  try {
    co_await network_->prepare(c, spec);  // address, host ports, /etc/hosts (container_network.cpp)
    NetworkManager* nm = network_.get();
    ContainerNet* cn = c.net.get();
    cgroup::Cgroup* cg = c.cg.get();
    bool move_after_clone = cg != nullptr && spec.cgroup_fd < 0;
    sp = co_await rt::offload([&spec, cg, move_after_clone, nm, cn] {
      // v1: this worker thread steps into the cgroup so the child is cloned inside it (the
      // child's cgroup namespace is rooted there too); it steps back at the gate. Else the
      // child is moved at the gate, which costs an RCU grace period (cgroup.hpp).
      std::unique_ptr<cgroup::ThreadPlacement> placed;
      if (move_after_clone) placed = cg->place_calling_thread();
      std::function<void(pid_t)> gate;
      if (placed) {
        cgroup::ThreadPlacement* p = placed.get();
        gate = [p](pid_t) { p->restore(); };
      } else if (move_after_clone) {
        gate = [cg](pid_t pid) { cg->add_process(pid); };
      }
      if (cn != nullptr) gate = nm->chain_gate(std::move(gate), cn);  // veth or lo, DNAT rules
      return container::spawn(spec, gate);
    });
  } catch (const container::SpawnError& e) {
    failed = e;
  }
  if (failed) co_await network_->teardown(c);
  if (failed && c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    co_await rt::offload([cg] {
      try {
        cg->remove();
      } catch (const std::exception&) {
      }
    });
    c.cg.reset();
  }
  if (failed) {
    c.status = "exited";
    c.exit_code = failed->exit_code();
    c.error = failed->what();
    c.finished_ns = now_ns();
    c.exited.notify_all();
    std::string message = std::string("failed to create task for container: ") + failed->what() + ": unknown";
    if (c.host_config.value("AutoRemove", false)) {
      co_await remove(c.id, true, true);  // --rm: the CLI waits for condition=removed
    } else {
      co_await save(c);
    }
    throw invalid(message);
  }
  c.pidfd = std::move(sp.pidfd);
  c.pid = sp.pid;
  c.pid_start = process_start_time(sp.pid);  // container_restore.cpp
  c.adopted = false;
  c.out_r = std::move(cap.out_r);
  c.err_r = std::move(cap.err_r);
  cap = CaptureFds{};  // the container holds its ends: EOF comes when it and its children are gone
  c.status = "running";
  if (engine_metrics_ != nullptr) {
    engine_metrics_->container_start->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_begin).count());
  }
  c.error.clear();
  c.exit_code = 0;
  c.started_ns = now_ns();
  c.finished_ns = 0;
  if (tty) {
    pty_slave.reset();
    c.stdin_w.reset(::fcntl(c.pty_master.get(), F_DUPFD_CLOEXEC, 3));
    co_await keep_terminal(c);
  } else if (open_stdin) {
    c.stdin_w = std::move(in.w);
  }
  // Stdin sent before start.
  if (c.stdin_w && !c.stdin_pending.empty()) {
    std::string pending = std::move(c.stdin_pending);
    c.stdin_pending.clear();
    co_await rt::write_all(c.stdin_w.get(), pending);
  }
  // The client's stdin ended before the start: the container sees EOF after the buffered bytes.
  if (c.stdin_closed && !tty) c.stdin_w.reset();
  c.stdin_closed = false;
  co_await network_->activate(c);  // port proxies
  co_await save(c);

  emit(c, "start");
  supervisors_.spawn(supervisor(c));
}

rt::Task<void> ContainerService::supervise(Container& c) {
  rt::ExitStatus st;
  try {
    st = co_await wait_process_exit(c);  // container_restore.cpp: reaps a child, polls an adopted one
  } catch (const std::exception& e) {
    if (c.detached) co_return;  // daemon shutdown: the container keeps running
    log_line("container " + c.id.substr(0, 12) + ": wait: " + e.what());
    st.code = 255;
  }
  c.exit_code = st.code;
  c.oom_killed = false;
  if (c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    std::uint64_t ooms = 0;
    try {
      ooms = co_await rt::offload([cg] { return cg->stats().oom_events; });
    } catch (const std::exception& e) {
      log_line("container " + c.id.substr(0, 12) + ": cgroup stats: " + e.what());
    }
    c.oom_killed = ooms > 0 && st.signal == SIGKILL;
  }
  c.finished_ns = now_ns();
  c.pid = 0;
  c.pidfd.reset();
}

// Called by the supervisor once the process has exited and its output is drained.
// The cgroup, after killing whatever PID 1 left behind; a failure is logged.
rt::Task<void> ContainerService::release_cgroup(Container& c) {
  if (c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    std::string id = c.id;
    co_await rt::offload([cg, &id] {
      try {
        cg->kill_all(SIGKILL);  // anything PID 1 left behind
        cg->remove();
      } catch (const std::exception& e) {
        log_line("container " + id.substr(0, 12) + ": cgroup cleanup: " + e.what());
      }
    });
    c.cg.reset();
  }
}

// The rootfs and the state dir (a rootfs already gone is fine).
rt::Task<void> ContainerService::remove_files(Container& c) {
  std::string id = c.id, dir = c.dir;
  c.log_fd.reset();
  storage::Driver& drv = images_.driver();
  co_await rt::offload([&drv, &id, &dir] {
    try {
      drv.remove_rootfs(id);
    } catch (const Error& e) {
      if (e.kind() != Error::Kind::kNotFound) throw;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) throw SystemError(ec.value(), "remove", dir);
  });
}

rt::Task<void> ContainerService::destroy(Container& c) {
  co_await release_cgroup(c);
  co_await network_->teardown(c);  // proxies, DNAT rules, veth, address
  c.status = "exited";
  c.paused = false;
  c.stdin_w.reset();
  c.pty_master.reset();
  co_await save(c);
  c.exited.notify_all();
  c.output.notify_all();
  if (co_await restart_by_policy(c)) co_return;  // container_restart.cpp
  if (c.host_config.value("AutoRemove", false)) {
    try {
      co_await remove(c.id, true, true);
    } catch (const std::exception& e) {
      log_line("container " + c.id.substr(0, 12) + ": --rm: " + e.what());
    }
  }
}

rt::Task<void> ContainerService::stop(std::string name, int timeout_s) {
  Container& c = find(name);
  c.manual_stop = true;  // no restart by policy
  c.restart_wake.notify_all();
  if (!c.running()) co_return;  // docker answers 304; the CLI treats both as success
  int sig = SIGTERM;
  std::string ss = c.config.value("StopSignal", "");
  if (!ss.empty()) sig = parse_signal(ss);
  if (timeout_s < 0) timeout_s = c.config.value("StopTimeout", 10);
  if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), sig);
  emit(c, "kill", {{"signal", std::to_string(sig)}});
  auto waiter = [](Container& k) -> rt::Task<void> {
    while (k.running()) co_await k.exited.wait();
  };
  bool timed_out = false;
  try {
    co_await rt::with_timeout(waiter(c), std::chrono::seconds(timeout_s));
  } catch (const Error& e) {
    if (e.kind() != Error::Kind::kTimeout) throw;
    timed_out = true;
  }
  if (timed_out) {
    if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), SIGKILL);
    emit(c, "kill", {{"signal", std::to_string(SIGKILL)}});
    co_await thaw_for_kill(c);
    co_await waiter(c);
  }
  emit(c, "stop");
}

rt::Task<void> ContainerService::kill(std::string name, std::string signal) {
  Container& c = find(name);
  int sig = parse_signal(signal);
  c.manual_stop = true;  // no restart by policy
  c.restart_wake.notify_all();
  if (!c.running() || !c.pidfd) throw conflict("Container " + c.id + " is not running");
  int rc = rt::pidfd_kill(c.pidfd.get(), sig);
  if (rc < 0 && rc != -ESRCH) throw SystemError(-rc, "kill", "container " + c.id);
  emit(c, "kill", {{"signal", std::to_string(sig)}});
  if (sig == SIGKILL) co_await thaw_for_kill(c);  // other signals wait for the unpause, as docker's
}

rt::Task<void> ContainerService::pause(std::string name) {
  Container& c = find(name);
  if (!c.running() || !c.pidfd) throw conflict("Container " + c.id + " is not running");
  if (c.paused) throw conflict("Container " + c.id + " is already paused");
  if (!c.cg) throw conflict("Container " + c.id + " has no cgroup to freeze (the host has no usable cgroups)");
  co_await set_paused(c, true);
}

rt::Task<void> ContainerService::unpause(std::string name) {
  Container& c = find(name);
  if (!c.running() || !c.paused) throw conflict("Container " + c.id + " is not paused");
  co_await set_paused(c, false);
}

rt::Task<void> ContainerService::set_paused(Container& c, bool paused) {
  cgroup::Cgroup* cg = c.cg.get();
  if (cg != nullptr) co_await rt::offload([cg, paused] { cg->set_frozen(paused); });
  c.paused = paused;
  emit(c, paused ? "pause" : "unpause");
  co_await save(c);
}

rt::Task<void> ContainerService::thaw_for_kill(Container& c) {
  if (!c.paused) co_return;
  try {
    co_await set_paused(c, false);
  } catch (const std::exception& e) {
    log_line("container " + c.id.substr(0, 12) + ": thaw after SIGKILL: " + e.what());
  }
}

rt::Task<void> ContainerService::restart(std::string name, int timeout_s) {
  Container& c = find(name);
  co_await stop(c.id, timeout_s);
  while (c.running()) co_await c.exited.wait();
  // The supervisor finishes its bookkeeping (status "exited") before a new start.
  while (c.status != "exited" && c.status != "created") co_await c.exited.wait();
  ++c.restart_count;
  co_await start(c.id);
}

rt::Task<void> ContainerService::remove(std::string name, bool force, bool volumes) {
  Container& c = find(name);
  if (c.status == "removing") co_return;
  if (c.running()) {
    if (!force) {
      throw conflict("You cannot remove a running container " + c.id +
                     ". Stop the container before attempting removal or force remove");
    }
    if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), SIGKILL);
    co_await thaw_for_kill(c);
    while (c.running() || c.pid != 0) co_await c.exited.wait();
  }
  c.status = "removing";
  c.restart_wake.notify_all();
  co_await network_->forget(c);
  std::string id = c.id;
  co_await remove_files(c);
  if (volumes) co_await remove_anonymous_volumes(c);  // rm -v, --rm (container_volumes.cpp)
  names_.erase(c.name);
  emit(c, "destroy");
  c.gone = true;
  c.removed.notify_all();
  c.exited.notify_all();
  // Frame waiters still hold a reference: free the record once they have run.
  auto node = by_id_.extract(id);
  auto holder = std::make_shared<std::unique_ptr<Container>>(std::move(node.mapped()));
  supervisors_.spawn([](std::shared_ptr<std::unique_ptr<Container>> h) -> rt::Task<void> {
    co_await rt::nop();
    co_await rt::nop();
    h.reset();
  }(holder));
}

rt::Task<void> ContainerService::shutdown() {
  for (auto& [id, c] : by_id_) c->detached = true;  // live restore: supervisors leave the processes alone
  supervisors_.cancel();
  co_await supervisors_.join();
  co_await network_->shutdown();  // port proxies close; rules and veths stay with the containers
  // The empty <hierarchy>/bocker parents go too (one still holding a container stays).
  for (const auto& dir : cgroup_parents_) ::rmdir(dir.c_str());
}

}  // namespace bocker::daemon
