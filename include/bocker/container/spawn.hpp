// Starting a container's first process (and later `docker exec` processes) in fresh namespaces.
//
// Blocking code: the daemon calls it on a worker thread (offload). The child side runs after
// clone3 in a copy of a multithreaded process, so it only makes raw system calls on data the
// parent prepared before the clone (strings, argv/envp arrays, the seccomp BPF program).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::container {

// A volume or bind mount placed inside the container before pivot_root.
struct Mount {
  std::string source;  // host path (bind) or fs source ("tmpfs")
  std::string target;  // absolute path inside the container; created when missing
  std::string fstype;  // ignored for binds
  unsigned long flags = 0;
  std::string data;
  bool bind = false;
  bool readonly = false;
};

struct SpawnSpec {
  std::string rootfs;             // host path of the prepared root filesystem
  std::vector<std::string> argv;  // entrypoint + cmd; argv[0] without '/' is looked up in PATH in the rootfs
  std::vector<std::string> env;   // KEY=VALUE; PATH, HOME and HOSTNAME get defaults when missing
  std::string cwd = "/";          // absolute, resolved inside the rootfs; created when missing
  std::string user;  // "", "uid", "uid:gid", "name", "name:group" (rootfs /etc/passwd, /etc/group)
  std::string hostname;
  bool new_network = true;                        // false: share the host network namespace
  int netns_fd = -1;                              // join this network namespace instead of a new empty one
  int cgroup_fd = -1;                             // cgroup v2 directory: CLONE_INTO_CGROUP
  std::vector<Mount> extra_mounts;                // volumes and binds
  std::string resolv_conf, hosts, hostname_file;  // written to /etc/resolv.conf, /etc/hosts, /etc/hostname
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // become 0, 1, 2; -1 = /dev/null
  bool tty = false;  // stdin is a terminal: it becomes the controlling terminal
  bool no_new_privileges = true;
  bool seccomp = true;  // Docker's default allow-list profile
  bool readonly_rootfs = false;
};

// A process `docker exec` starts inside a running container.
struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string user;
  int cgroup_fd = -1;  // the container's cgroup v2 directory (CLONE_INTO_CGROUP); -1 = stay in ours
  // cgroup v1: the container's <hierarchy>/<cgroup>/cgroup.procs files. The helper moves itself into
  // each before it joins the namespaces, so the process starts (and forks) inside the container's cgroup.
  std::vector<std::string> cgroup_procs;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool tty = false;
  bool no_new_privileges = true;
  bool seccomp = true;
};

// The started process. It is a child of the caller: whoever holds it must reap it
// (waitid(P_PIDFD) or rt::wait_exit(pidfd)).
struct Spawned {
  pid_t pid = -1;
  Fd pidfd;
};

// Starting the process failed. The message follows Docker's wording; exit_code() is what
// `docker run` exits with: 127 command not found, 126 not executable, 125 anything else.
class SpawnError : public Error {
 public:
  SpawnError(Kind kind, const std::string& msg, int exit_code, int sys_errno)
      : Error(kind, msg), exit_code_(exit_code), errno_(sys_errno) {}
  int exit_code() const noexcept { return exit_code_; }
  int sys_errno() const noexcept { return errno_; }

 private:
  int exit_code_;
  int errno_;
};

// Starts `spec` as PID 1 of new mount, UTS, IPC, PID, cgroup (and network) namespaces, with
// Docker's default mounts, masked paths, capabilities and seccomp profile. `before_start`
// runs in the caller while the child waits before doing anything (cgroup v1 placement, moving
// a veth into its network namespace); if it throws, the child is killed and reaped and the
// exception propagates. Returns once the command has been exec'd; throws SpawnError when any
// step fails (the child is reaped then) and Error(kInvalid) for a bad spec.
Spawned spawn(const SpawnSpec& spec, const std::function<void(pid_t)>& before_start = {});

// Starts `spec` inside the namespaces of the running process behind `target_pidfd`.
Spawned spawn_exec(int target_pidfd, const ExecSpec& spec);

// Docker's default capability set (CapBnd 00000000a80425fb).
inline constexpr unsigned long long kDefaultCapabilities = 0xa80425fbULL;

}  // namespace bocker::container
