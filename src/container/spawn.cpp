// The parent side of spawn()/spawn_exec(): validates the spec, prepares every string, array
// and the seccomp program, clones the child, runs the start gate and turns the child's error
// report into a SpawnError.
#include "bocker/container/spawn.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "spawn_internal.hpp"

namespace bocker::container {
namespace {

using detail::ChildMount;
using detail::ChildPlan;
using detail::ChildReport;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An fd >= 3, so the child's dup2 onto 0-2 cannot clobber it.
Fd above_stdio(Fd fd) {
  if (fd.get() >= 3) return fd;
  Fd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  if (!moved) throw SystemError(errno, "fcntl F_DUPFD_CLOEXEC", "spawn pipe");
  return moved;
}

struct Pipe {
  Fd read, write;
  explicit Pipe(const char* what) {
    int fds[2];
    check_sys(::pipe2(fds, O_CLOEXEC), "pipe2", what);
    read = above_stdio(Fd(fds[0]));
    write = above_stdio(Fd(fds[1]));
  }
};

void check_string(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos) throw invalid(std::string(what) + " contains a NUL byte");
}

bool env_has(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env) {
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') return true;
  }
  return false;
}

std::string env_get(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env) {
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
      return e.substr(key.size() + 1);
    }
  }
  return {};
}

bool host_is_cgroup2() {
  struct statfs fs {};
  return ::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// The strings and arrays the child reads. Lives on the parent's stack across clone3.
struct Prepared {
  std::vector<std::string> argv, env;
  std::vector<char*> argv_p, env_p;
  std::string path, cwd, hostname, rootfs;
  std::vector<gid_t> groups;
  std::deque<std::string> mount_strings;
  std::vector<ChildMount> mounts;
  sock_fprog prog{};
  Fd devnull;
  ChildPlan plan;
};

// Command, environment, user and cwd, resolved inside `root` (a directory fd of the container root).
void prepare_process(Prepared& p, int root, const std::vector<std::string>& argv,
                     const std::vector<std::string>& env, const std::string& cwd, const std::string& user,
                     const std::string& hostname, bool create_cwd) {
  if (argv.empty() || argv[0].empty()) throw invalid("No command specified");
  for (const auto& a : argv) check_string(a, "command argument");
  for (const auto& e : env) {
    check_string(e, "environment variable");
    if (e.find('=') == std::string::npos || e[0] == '=') {
      throw invalid("invalid environment variable \"" + e + "\": expected KEY=VALUE");
    }
  }
  p.cwd = detail::clean_path(cwd.empty() ? "/" : cwd, "working directory");
  detail::ResolvedUser u = detail::resolve_user(root, user);

  p.env = env;
  if (!env_has(p.env, "PATH")) p.env.push_back(std::string("PATH=") + kDefaultPath);
  if (!hostname.empty() && !env_has(p.env, "HOSTNAME")) p.env.push_back("HOSTNAME=" + hostname);
  if (!env_has(p.env, "HOME")) p.env.push_back("HOME=" + u.home);
  p.argv = argv;

  if (argv[0].find('/') == std::string::npos) {
    p.path = detail::lookup_path(root, argv[0], env_get(p.env, "PATH"));
    if (p.path.empty()) {
      throw SpawnError(Error::Kind::kInvalid, "exec: \"" + argv[0] + "\": executable file not found in $PATH",
                       127, ENOENT);
    }
  } else {
    p.path = argv[0];
  }
  if (create_cwd) detail::mkdir_all_in_root(root, p.cwd);

  for (auto& a : p.argv) p.argv_p.push_back(a.data());
  p.argv_p.push_back(nullptr);
  for (auto& e : p.env) p.env_p.push_back(e.data());
  p.env_p.push_back(nullptr);
  p.groups = std::move(u.groups);

  ChildPlan& c = p.plan;
  c.cwd = p.cwd.c_str();
  c.uid = u.uid;
  c.gid = u.gid;
  c.groups = p.groups.data();
  c.n_groups = p.groups.size();
  c.caps = kDefaultCapabilities;
  c.path = p.path.c_str();
  c.argv = p.argv_p.data();
  c.envp = p.env_p.data();
}

void prepare_stdio(Prepared& p, int in, int out, int err) {
  int given[3] = {in, out, err};
  for (int i = 0; i < 3; ++i) {
    if (given[i] >= 0) {
      if (::fcntl(given[i], F_GETFD) < 0)
        throw SystemError(errno, "check stdio fd", std::to_string(given[i]));
      p.plan.stdio[i] = given[i];
      continue;
    }
    if (!p.devnull) {
      p.devnull = Fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
      if (!p.devnull) throw SystemError(errno, "open", "/dev/null");
    }
    p.plan.stdio[i] = p.devnull.get();
  }
}

void prepare_seccomp(Prepared& p, bool enabled, bool nnp) {
  p.plan.no_new_privs = nnp;
  if (!enabled) return;
  const auto& prog = detail::default_seccomp_program();
  p.prog.len = static_cast<unsigned short>(prog.size());
  p.prog.filter = const_cast<sock_filter*>(prog.data());
  p.plan.seccomp = &p.prog;
}

// Reaps a child that failed or that we gave up on.
void kill_and_reap(int pidfd) noexcept {
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) < 0 &&
         errno == EINTR) {
  }
}

// Reads the child's reports until every writer is gone (exec succeeded or the child exited).
std::vector<ChildReport> read_reports(int fd) {
  std::vector<ChildReport> out;
  ChildReport r;
  size_t have = 0;
  while (true) {
    ssize_t n = ::read(fd, reinterpret_cast<char*>(&r) + have, sizeof r - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", "container error pipe");
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
    if (have == sizeof r) {
      r.step[sizeof r.step - 1] = '\0';
      r.object[sizeof r.object - 1] = '\0';
      out.push_back(r);
      have = 0;
    }
  }
  return out;
}

SpawnError to_error(const ChildReport& r, const std::string& rootfs) {
  std::string step = r.step, object = r.object;
  if (step == "exec") {
    if (r.err == ENOENT) {
      return SpawnError(Error::Kind::kInvalid, "exec: \"" + object + "\": no such file or directory", 127,
                        r.err);
    }
    if (r.err == EACCES) {
      return SpawnError(Error::Kind::kInvalid, "exec: \"" + object + "\": permission denied", 126, r.err);
    }
    return SpawnError(Error::Kind::kInvalid, "exec: \"" + object + "\": " + errno_text(r.err), 125, r.err);
  }
  if (!object.empty() && object[0] != '/' && !rootfs.empty()) object = rootfs + "/" + object;
  std::string msg = "container init: " + step;
  if (!object.empty()) msg += " " + object;
  msg += ": " + errno_text(r.err);
  return SpawnError(Error::Kind::kInternal, msg, 125, r.err);
}

struct Cloned {
  pid_t pid;
  Fd pidfd;
};

// clone3 from this (possibly multithreaded) process; the child runs child_main on `plan`.
Cloned clone_child(unsigned long long flags, int cgroup_fd, const ChildPlan& plan) {
  int pidfd = -1;
  clone_args args{};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<__u64>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<__u64>(cgroup_fd);
  }
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) throw SystemError(errno, "clone3", "container process");
  if (pid == 0) detail::child_main(plan);
  return {static_cast<pid_t>(pid), Fd(pidfd)};
}

pid_t pid_of_pidfd(int pidfd) {
  std::string path = "/proc/self/fdinfo/" + std::to_string(pidfd);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open", path);
  char buf[1024];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n < 0) throw SystemError(errno, "read", path);
  buf[n] = '\0';
  const char* pid = std::strstr(buf, "\nPid:");
  if (pid == nullptr) throw invalid("fd " + std::to_string(pidfd) + " is not a pidfd");
  long v = std::strtol(pid + 5, nullptr, 10);
  if (v <= 0) throw not_found("the process behind pidfd " + std::to_string(pidfd) + " has exited");
  return static_cast<pid_t>(v);
}

}  // namespace

Spawned spawn(const SpawnSpec& spec, const std::function<void(pid_t)>& before_start) {
  if (spec.rootfs.empty() || spec.rootfs[0] != '/') {
    throw invalid("container rootfs must be an absolute path, got \"" + spec.rootfs + "\"");
  }
  check_string(spec.rootfs, "rootfs");
  check_string(spec.hostname, "hostname");
  if (spec.hostname.size() > 64) throw invalid("hostname \"" + spec.hostname + "\" is longer than 64 bytes");

  Prepared p;
  p.rootfs = spec.rootfs;
  while (p.rootfs.size() > 1 && p.rootfs.back() == '/') p.rootfs.pop_back();
  Fd root(::open(p.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SystemError(errno, "open container rootfs", p.rootfs);

  prepare_process(p, root.get(), spec.argv, spec.env, spec.cwd, spec.user, spec.hostname, true);
  for (const char* dir : {"proc", "dev", "sys"}) detail::ensure_mountpoint(root.get(), p.rootfs, dir);
  if (!spec.resolv_conf.empty()) detail::write_in_root(root.get(), "/etc/resolv.conf", spec.resolv_conf);
  if (!spec.hosts.empty()) detail::write_in_root(root.get(), "/etc/hosts", spec.hosts);
  if (!spec.hostname_file.empty()) detail::write_in_root(root.get(), "/etc/hostname", spec.hostname_file);
  for (const auto& m : spec.extra_mounts) {
    check_string(m.source, "mount source");
    check_string(m.data, "mount options");
    bool file = false;
    if (m.bind) {
      struct stat st {};
      check_sys(::stat(m.source.c_str(), &st), "stat bind source", m.source);
      file = !S_ISDIR(st.st_mode);
    }
    ChildMount cm;
    cm.source = p.mount_strings.emplace_back(m.source).c_str();
    cm.target =
        p.mount_strings.emplace_back(detail::prepare_mount_target(root.get(), m.target, file)).c_str();
    cm.fstype = m.fstype.empty() ? nullptr : p.mount_strings.emplace_back(m.fstype).c_str();
    cm.data = m.data.empty() ? nullptr : p.mount_strings.emplace_back(m.data).c_str();
    cm.label = cm.target;  // reported as <rootfs>/<target>
    cm.flags = m.flags;
    cm.bind = m.bind;
    cm.readonly = m.readonly;
    cm.file = file;
    p.mounts.push_back(cm);
  }
  prepare_stdio(p, spec.stdin_fd, spec.stdout_fd, spec.stderr_fd);
  prepare_seccomp(p, spec.seccomp, spec.no_new_privileges);
  p.hostname = spec.hostname;

  Pipe gate("container start gate");
  Pipe errp("container error pipe");
  ChildPlan& c = p.plan;
  c.err_fd = errp.write.get();
  c.gate_fd = gate.read.get();
  c.gate_write_fd = gate.write.get();  // the child closes its copy: EOF there means we gave up
  c.netns_fd = spec.netns_fd;
  c.rootfs = p.rootfs.c_str();
  c.mount_sysfs = spec.new_network || spec.netns_fd >= 0;
  c.mount_cgroup2 = host_is_cgroup2();
  c.readonly_rootfs = spec.readonly_rootfs;
  c.extra = p.mounts.data();
  c.n_extra = p.mounts.size();
  c.hostname = p.hostname.c_str();
  c.tty = spec.tty;

  unsigned long long flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWCGROUP;
  if (spec.new_network && spec.netns_fd < 0) flags |= CLONE_NEWNET;
  Cloned child = clone_child(flags, spec.cgroup_fd, c);
  gate.read.reset();
  errp.write.reset();

  try {
    if (before_start) before_start(child.pid);
    char go = 1;
    ssize_t n;
    do {
      n = ::write(gate.write.get(), &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) throw SystemError(errno, "write", "container start gate");
    gate.write.reset();
    auto reports = read_reports(errp.read.get());
    if (!reports.empty()) throw to_error(reports.front(), p.rootfs);
  } catch (...) {
    kill_and_reap(child.pidfd.get());
    throw;
  }
  return Spawned{child.pid, std::move(child.pidfd)};
}

Spawned spawn_exec(int target_pidfd, const ExecSpec& spec) {
  pid_t target = pid_of_pidfd(target_pidfd);
  std::string root_path = "/proc/" + std::to_string(target) + "/root";
  Fd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SystemError(errno, "open container root", root_path);

  Prepared p;
  prepare_process(p, root.get(), spec.argv, spec.env, spec.cwd, spec.user, {}, false);
  prepare_stdio(p, spec.stdin_fd, spec.stdout_fd, spec.stderr_fd);
  prepare_seccomp(p, spec.seccomp, spec.no_new_privileges);

  Pipe errp("exec error pipe");
  ChildPlan& c = p.plan;
  c.err_fd = errp.write.get();
  c.tty = spec.tty;
  c.exec_target_pidfd = target_pidfd;
  c.exec_clone_flags = CLONE_PARENT | (spec.cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  c.exec_cgroup_fd = spec.cgroup_fd;
  std::vector<Fd> procs_fds;
  std::vector<int> procs_raw;
  for (const auto& path : spec.cgroup_procs) {
    Fd f(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!f) throw SystemError(errno, "open", path);
    procs_raw.push_back(f.get());
    procs_fds.push_back(std::move(f));
  }
  c.exec_cgroup_procs = procs_raw.data();
  c.n_exec_cgroup_procs = procs_raw.size();

  Cloned helper = clone_child(0, -1, c);
  errp.write.reset();
  std::vector<ChildReport> reports;
  try {
    reports = read_reports(errp.read.get());
  } catch (...) {
    kill_and_reap(helper.pidfd.get());
    throw;
  }
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(helper.pidfd.get()), &info, WEXITED) <
             0 &&
         errno == EINTR) {
  }
  pid_t pid = 0;
  const ChildReport* failure = nullptr;
  for (const auto& r : reports) {
    if (r.err == 0 && r.pid > 0) pid = r.pid;
    if (r.err != 0 && failure == nullptr) failure = &r;
  }
  Spawned out;
  if (pid > 0) {
    // Our child through CLONE_PARENT and not reaped yet: its pid cannot be reused.
    out.pid = pid;
    out.pidfd = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (!out.pidfd) throw SystemError(errno, "pidfd_open", "exec process " + std::to_string(pid));
  }
  if (failure != nullptr) {
    if (out.pidfd) kill_and_reap(out.pidfd.get());
    throw to_error(*failure, {});
  }
  if (!out.pidfd) throw Error("exec helper for pid " + std::to_string(target) + " exited without a report");
  return out;
}

}  // namespace bocker::container
