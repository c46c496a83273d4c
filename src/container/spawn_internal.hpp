// Internals shared by the parent side (spawn.cpp, rootfs.cpp, seccomp.cpp) and the child side
// (spawn_child.cpp, caps.cpp) of container process creation.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "bocker/runtime/fd.hpp"

namespace bocker::container::detail {

// What a failing child writes to the error pipe (one write, below PIPE_BUF, so atomic).
// err == 0 with pid > 0 is the exec helper announcing the process it started.
struct ChildReport {
  int err = 0;
  pid_t pid = 0;
  char step[48] = {};
  char object[200] = {};
};

// One mount the child performs, every string prepared by the parent.
struct ChildMount {
  const char* source = nullptr;
  const char* target = nullptr;  // cleaned, relative to the rootfs; resolved again inside it by the child
  const char* fstype = nullptr;
  unsigned long flags = 0;
  const char* data = nullptr;
  const char* label = nullptr;  // names the mount in error reports
  bool bind = false;
  bool readonly = false;
  bool file = false;  // the target is a file (a bind of a non-directory)
};

// Everything the child needs, computed before clone3. The child only reads it.
struct ChildPlan {
  int err_fd = -1;              // write end of the CLOEXEC error pipe
  int gate_fd = -1;             // read end of the start gate; -1 = no gate
  int gate_write_fd = -1;       // the parent's end, closed in the child
  int stdio[3] = {-1, -1, -1};  // all valid (the parent substitutes /dev/null)
  int netns_fd = -1;

  // Exec helper mode: setns into the target's namespaces, then clone3(CLONE_PARENT) the process.
  int exec_target_pidfd = -1;
  unsigned long long exec_clone_flags = 0;
  int exec_cgroup_fd = -1;
  const int* exec_cgroup_procs = nullptr;  // v1 cgroup.procs fds (O_WRONLY) the helper writes "0" to
  size_t n_exec_cgroup_procs = 0;

  // Root filesystem (run mode only; null in exec mode).
  const char* rootfs = nullptr;
  bool mount_sysfs = true;  // new network namespace: fresh sysfs; else a read-only rbind
  bool mount_cgroup2 = false;
  bool readonly_rootfs = false;
  const ChildMount* extra = nullptr;
  size_t n_extra = 0;
  const char* hostname = nullptr;

  const char* cwd = "/";
  bool tty = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  size_t n_groups = 0;
  unsigned long long caps = 0;
  bool no_new_privs = true;
  const sock_fprog* seccomp = nullptr;

  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

// The child: never returns. Reports a failure through plan.err_fd and exits.
[[noreturn]] void child_main(const ChildPlan& plan) noexcept;

// Capabilities (child side, raw syscalls): drops every capability outside `keep` from the
// bounding and ambient sets and sets effective = permitted = keep, inheritable = 0.
// Returns 0 or -errno, and names the failing step in *step.
int apply_capabilities(unsigned long long keep, const char** step) noexcept;

// Docker's default seccomp profile as a BPF program for this architecture (built once).
const std::vector<sock_filter>& default_seccomp_program();

// ---- parent side, inside a root directory (openat2 RESOLVE_IN_ROOT) ----

// Lexically cleaned absolute path ("/a/../b/./c" → "/b/c"); throws invalid() for relative paths.
std::string clean_path(std::string_view path, std::string_view what);
// openat2(root, path, flags, RESOLVE_IN_ROOT); -errno on failure.
int open_in_root(int root, const std::string& path, int flags, unsigned mode = 0) noexcept;
// mkdir -p inside the root; returns an O_PATH fd of the directory. Throws SystemError.
Fd mkdir_all_in_root(int root, const std::string& path, unsigned mode = 0755);
// Creates (or truncates) a file inside the root with `data`.
void write_in_root(int root, const std::string& path, std::string_view data, unsigned mode = 0644);
// The file's content; "" when it does not exist.
std::string read_in_root(int root, const std::string& path);
// A direct child directory of the root used as a mount point ("proc", "dev", "sys"):
// created when missing, refused when it is a symlink or not a directory.
void ensure_mountpoint(int root, const std::string& rootfs, const char* name);
// Creates the mount target (directory, or empty file when `file`), following symlinks inside
// the root, and returns the cleaned target relative to the root. The child resolves it again
// with openat2(RESOLVE_IN_ROOT) and mounts through the O_PATH fd it gets.
std::string prepare_mount_target(int root, const std::string& target, bool file);
// argv[0] looked up in PATH inside the root; "" when not found.
std::string lookup_path(int root, const std::string& name, const std::string& path_env);

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home = "/";
};
// Resolves "", "uid", "uid:gid", "name", "name:group" through the root's /etc/passwd and /etc/group.
ResolvedUser resolve_user(int root, const std::string& user);

}  // namespace bocker::container::detail
