// Internal to the daemon: a container's record (persisted state plus what its supervisor holds)
// and the helpers the container_*.cpp files share. Not a public header.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/volume/mounts.hpp"

namespace bocker::metrics {
struct CgroupFiles;
}

namespace bocker::daemon {

using nlohmann::json;

constexpr int kStdout = 1;
constexpr int kStderr = 2;
constexpr std::int64_t kMinMemory = 6 * 1024 * 1024;

// One record of the log file: a fixed header, then `len` bytes of output.
struct LogHeader {
  std::int64_t ts_ns;
  std::uint32_t len;
  std::uint8_t stream;
  std::uint8_t pad[3];
};
static_assert(sizeof(LogHeader) == 16);

std::int64_t now_ns();
std::string rfc3339_nano(std::int64_t ns);
std::string human_ago(std::int64_t ns);
int parse_signal(std::string s);
std::vector<std::string> strings_of(const json& j, const char* what);
std::int64_t int_field(const json& j, const char* key);
std::string host_resolv_conf();
Fd open_log(const std::string& path);
std::string random_container_name(bool (*taken)(const void*, const std::string&), const void* ctx);

struct Pipe {
  Fd r, w;
  static Pipe make(const char* what);
};

// One attached client (docker run/attach): output frames go to its socket.
struct Attacher {
  int fd;
  bool out, err, tty;
  bool broken = false;
};

// One `docker exec` process (container_exec.cpp). In memory only; dropped with its container.
struct Exec {
  std::string id, container_id;
  std::vector<std::string> argv, env;
  std::string user, workdir, detach_keys;
  bool tty = false, attach_stdin = false, attach_stdout = false, attach_stderr = false, privileged = false;
  bool started = false, running = false, exited = false;
  int exit_code = 0;
  pid_t pid = 0;
  Fd pty_master;
  rt::Notifier done;
};

// Restart policies (container_restart.cpp).
// Throws Error(kInvalid) for a bad HostConfig.RestartPolicy (or one combined with AutoRemove).
void validate_restart_policy(const json& host_config);

struct LogFile;  // container_logs.hpp
struct ContainerNet;  // container_network.hpp

struct Container {
  std::string id, name, image, image_id, layer;
  std::int64_t created_ns = 0;
  json config;       // Docker's Config, with image defaults applied
  json host_config;  // Docker's HostConfig as sent
  std::vector<std::string> argv;
  // state
  std::string status = "created";  // created, running, exited, removing
  pid_t pid = 0;
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;
  std::int64_t started_ns = 0, finished_ns = 0;
  int restart_count = 0;
  bool manual_stop = false;  // stopped or killed through the API: no policy restart
  bool paused = false;       // docker pause: its cgroup is frozen (still "running")
  std::string rootfs;
  std::string dir;
  std::vector<volume::MountPoint> mounts;  // container_volumes.cpp: binds, volumes, tmpfs
  std::uint64_t pid_start = 0;  // /proc/<pid>/stat starttime: live restore adopts only this process
  // runtime only
  std::shared_ptr<LogFile> log;       // container_logs.cpp: the log file and its rotation
  Fd out_r, err_r;                      // the daemon's read ends of <dir>/stdout.fifo, stderr.fifo
  bool adopted = false;                 // re-adopted after a daemon restart: not our child
  bool detached = false;                // daemon shutdown: supervision stops, the process runs on
  std::unique_ptr<cgroup::Cgroup> cg;
  std::shared_ptr<const metrics::CgroupFiles> metric_files;  // container_metrics.cpp: cg's stat files
  std::shared_ptr<ContainerNet> net;  // while running (network mode, address, ports, proxies)
  Fd pidfd;
  Fd stdin_w;
  Fd log_fd;
  Fd pty_master;
  std::string stdin_pending;  // stdin that arrived before start
  bool stdin_closed = false;
  std::vector<Attacher*> attachers;
  rt::Notifier exited;   // each exit
  rt::Notifier removed;  // gone
  rt::Notifier output;   // new log records (logs -f)
  bool gone = false;
  std::map<std::string, std::shared_ptr<Exec>> execs;
  std::int64_t restart_delay_ms = 0;  // backoff of the next policy restart
  rt::Notifier restart_wake;          // a manual stop or remove ends a policy restart's wait
  bool tty() const { return config.value("Tty", false); }
  bool running() const { return status == "running"; }

  json to_json() const {
    return {{"Id", id},           {"Name", name},         {"Image", image},       {"ImageID", image_id},
            {"Layer", layer},     {"Created", created_ns}, {"Config", config},     {"HostConfig", host_config},
            {"Argv", argv},       {"Status", status},
            {"ExitCode", exit_code}, {"Pid", pid}, {"PidStartTime", pid_start},
            {"OOMKilled", oom_killed}, {"Error", error}, {"StartedAt", started_ns}, {"FinishedAt", finished_ns},
            {"RestartCount", restart_count}, {"Rootfs", rootfs}, {"ManualStop", manual_stop}, {"Paused", paused},
            {"Mounts", volume::mounts_to_json(mounts)}};
  }
};

}  // namespace bocker::daemon
