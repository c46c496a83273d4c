// The child side of spawn()/spawn_exec(). It runs right after clone3 in a copy of a possibly
// multithreaded process: no allocation, no locks, no exceptions, only system calls on the
// ChildPlan the parent prepared. Any failure is written to the error pipe as (errno, step,
// object) and the child exits; a successful execve closes the CLOEXEC pipe.
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "spawn_internal.hpp"

namespace bocker::container::detail {
namespace {

void copy_str(char* dst, size_t cap, const char* src) noexcept {
  size_t i = 0;
  if (src != nullptr) {
    for (; i + 1 < cap && src[i] != '\0'; ++i) dst[i] = src[i];
  }
  dst[i] = '\0';
}

[[noreturn]] void die(const ChildPlan& plan, int err, const char* step, const char* object) noexcept {
  ChildReport r;
  r.err = err;
  copy_str(r.step, sizeof r.step, step);
  copy_str(r.object, sizeof r.object, object);
  ssize_t n;
  do {
    n = ::write(plan.err_fd, &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  ::syscall(SYS_exit_group, 125);
  __builtin_unreachable();
}

void must(const ChildPlan& plan, long rc, const char* step, const char* object) noexcept {
  if (rc < 0) die(plan, errno, step, object);
}

void do_mount(const ChildPlan& plan, const char* src, const char* tgt, const char* fstype,
              unsigned long flags, const char* data, const char* step) noexcept {
  must(plan, ::mount(src, tgt, fstype, flags, data), step, tgt);
}

// Bind `path` onto itself and make it read-only (Docker's readonly paths).
void bind_readonly(const ChildPlan& plan, const char* path, unsigned long extra) noexcept {
  if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) < 0) {
    if (errno == ENOENT) return;
    die(plan, errno, "bind readonly path", path);
  }
  do_mount(plan, path, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, nullptr, "remount read-only");
}

// Docker's masked paths: directories get an empty read-only tmpfs, files /dev/null.
void mask(const ChildPlan& plan, const char* path) noexcept {
  struct stat st;
  if (::stat(path, &st) < 0) {
    if (errno == ENOENT) return;
    die(plan, errno, "stat masked path", path);
  }
  if (S_ISDIR(st.st_mode)) {
    do_mount(plan, "tmpfs", path, "tmpfs", MS_RDONLY, "size=0", "mask directory");
  } else {
    do_mount(plan, "dev/null", path, nullptr, MS_BIND, nullptr, "mask file");
  }
}

void make_dev(const ChildPlan& plan) noexcept {
  do_mount(plan, "tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "mount tmpfs");
  struct Node {
    const char* path;
    unsigned maj, min;
  };
  static constexpr Node kNodes[] = {{"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
                                    {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
  for (const auto& n : kNodes) {
    if (::mknod(n.path, S_IFCHR | 0666, makedev(n.maj, n.min)) == 0) continue;
    if (errno != EPERM) die(plan, errno, "mknod", n.path);
    // No CAP_MKNOD (a user namespace): bind the host's node instead.
    int fd = ::open(n.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) die(plan, errno, "create", n.path);
    ::close(fd);
    char host[32] = "/";
    copy_str(host + 1, sizeof host - 1, n.path);
    do_mount(plan, host, n.path, nullptr, MS_BIND, nullptr, "bind device");
  }
  must(plan, ::mkdir("dev/pts", 0755), "mkdir", "dev/pts");
  do_mount(plan, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620,gid=5", "mount devpts");
  must(plan, ::symlink("pts/ptmx", "dev/ptmx"), "symlink", "dev/ptmx");
  must(plan, ::mkdir("dev/shm", 01777), "mkdir", "dev/shm");
  do_mount(plan, "shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k",
           "mount tmpfs");
  must(plan, ::mkdir("dev/mqueue", 0755), "mkdir", "dev/mqueue");
  do_mount(plan, "mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "mount mqueue");
  must(plan, ::symlink("/proc/self/fd", "dev/fd"), "symlink", "dev/fd");
  must(plan, ::symlink("/proc/self/fd/0", "dev/stdin"), "symlink", "dev/stdin");
  must(plan, ::symlink("/proc/self/fd/1", "dev/stdout"), "symlink", "dev/stdout");
  must(plan, ::symlink("/proc/self/fd/2", "dev/stderr"), "symlink", "dev/stderr");
  must(plan, ::symlink("/proc/kcore", "dev/core"), "symlink", "dev/core");
}

// "/proc/self/fd/<fd>" into buf.
void fd_link(char (&buf)[32], int fd) noexcept {
  static constexpr char kPrefix[] = "/proc/self/fd/";
  size_t i = 0;
  for (; kPrefix[i] != '\0'; ++i) buf[i] = kPrefix[i];
  char digits[12];
  int n = 0;
  unsigned v = static_cast<unsigned>(fd);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) buf[i++] = digits[--n];
  buf[i] = '\0';
}

// openat2(root, path, RESOLVE_IN_ROOT): symlinks and ".." stay inside the root. -1 and errno on failure.
int open_in(int root, const char* path, int flags, unsigned mode = 0) noexcept {
  open_how how{};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root, path, &how, sizeof how));
}

// Resolves the mount's target inside the root, creating missing directories (and the file of
// a file bind) along the way, also inside mounts made before this one. Returns an O_PATH fd.
int open_mount_target(const ChildPlan& plan, int root, const ChildMount& m) noexcept {
  char path[4096];
  size_t len = 0;
  while (m.target[len] != '\0') {
    if (len + 1 >= sizeof path) die(plan, ENAMETOOLONG, "resolve mount target", m.label);
    path[len] = m.target[len];
    ++len;
  }
  path[len] = '\0';
  int prev = ::fcntl(root, F_DUPFD_CLOEXEC, 3);
  if (prev < 0) die(plan, errno, "dup", "container root");
  size_t start = 0;
  for (size_t i = 0; i <= len; ++i) {
    if (path[i] != '/' && path[i] != '\0') continue;
    bool last = i == len;
    if (i == start) {  // empty component
      start = i + 1;
      continue;
    }
    if (last && m.file) break;
    char saved = path[i];
    path[i] = '\0';
    int fd = open_in(root, path, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(prev, path + start, 0755) < 0 && errno != EEXIST) die(plan, errno, "create mount target", m.label);
      fd = open_in(root, path, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) die(plan, errno, "resolve mount target", m.label);
    path[i] = saved;
    ::close(prev);
    prev = fd;
    start = i + 1;
  }
  if (!m.file) return prev;
  ::close(prev);
  int fd = open_in(root, path, O_RDONLY | O_CREAT | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd < 0 && errno != EISDIR) die(plan, errno, "create mount target", m.label);
  if (fd >= 0) ::close(fd);
  fd = open_in(root, path, O_PATH);
  if (fd < 0) die(plan, errno, "resolve mount target", m.label);
  return fd;
}

// A volume, bind or tmpfs mount: the target is resolved inside the root and the mount goes
// through its O_PATH fd, so a symlink in the image cannot send it to the host.
void mount_extra(const ChildPlan& plan, int root, const ChildMount& m) noexcept {
  int fd = open_mount_target(plan, root, m);
  char at[32];
  fd_link(at, fd);
  if (m.bind) {
    if (::mount(m.source, at, nullptr, MS_BIND | MS_REC | m.flags, nullptr) < 0) die(plan, errno, "bind mount", m.label);
  } else if (::mount(m.source, at, m.fstype, m.flags | (m.readonly ? MS_RDONLY : 0), m.data) < 0) {
    die(plan, errno, "mount", m.label);
  }
  ::close(fd);
  if (!m.bind || !m.readonly) return;
  // The fd still names the covered directory: open the target again to reach the new mount.
  int top = open_in(root, m.target, O_PATH);
  if (top < 0) die(plan, errno, "open mount", m.label);
  fd_link(at, top);
  if (::mount(nullptr, at, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | m.flags, nullptr) < 0) {
    die(plan, errno, "remount read-only", m.label);
  }
  ::close(top);
}

void setup_rootfs(const ChildPlan& plan) noexcept {
  do_mount(plan, nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr, "make mounts private");
  do_mount(plan, plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REC, nullptr, "bind rootfs");
  must(plan, ::chdir(plan.rootfs), "chdir", plan.rootfs);

  do_mount(plan, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "mount proc");
  make_dev(plan);
  constexpr unsigned long kSys = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (plan.mount_sysfs) {
    do_mount(plan, "sysfs", "sys", "sysfs", kSys, nullptr, "mount sysfs");
  } else {
    do_mount(plan, "/sys", "sys", nullptr, MS_BIND | MS_REC, nullptr, "bind /sys");
    do_mount(plan, "sys", "sys", nullptr, MS_BIND | MS_REMOUNT | kSys, nullptr, "remount read-only");
  }
  if (plan.mount_cgroup2) {
    do_mount(plan, "cgroup", "sys/fs/cgroup", "cgroup2", kSys, nullptr, "mount cgroup2");
  }

  static constexpr const char* kMasked[] = {"proc/asound",
                                            "proc/acpi",
                                            "proc/kcore",
                                            "proc/keys",
                                            "proc/latency_stats",
                                            "proc/timer_list",
                                            "proc/timer_stats",
                                            "proc/sched_debug",
                                            "proc/scsi",
                                            "sys/firmware",
                                            "sys/devices/virtual/powercap"};
  for (const char* p : kMasked) mask(plan, p);
  static constexpr const char* kReadonly[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys",
                                              "proc/sysrq-trigger"};
  for (const char* p : kReadonly) bind_readonly(plan, p, MS_NOSUID | MS_NODEV | MS_NOEXEC);

  if (plan.n_extra > 0) {
    int root = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) die(plan, errno, "open", plan.rootfs);
    for (size_t i = 0; i < plan.n_extra; ++i) mount_extra(plan, root, plan.extra[i]);
    ::close(root);
  }
  if (plan.readonly_rootfs) {
    do_mount(plan, plan.rootfs, plan.rootfs, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr,
             "remount rootfs read-only");
  }

  // pivot_root(".", "."): the old root ends up mounted on top of the new one; detach it.
  must(plan, ::syscall(SYS_pivot_root, ".", "."), "pivot_root", plan.rootfs);
  must(plan, ::umount2(".", MNT_DETACH), "detach old root", "/");
  must(plan, ::chdir("/"), "chdir", "/");
}

void setup_stdio(const ChildPlan& plan) noexcept {
  int tmp[3];
  for (int i = 0; i < 3; ++i) {
    tmp[i] = ::fcntl(plan.stdio[i], F_DUPFD, 3);
    if (tmp[i] < 0) die(plan, errno, "dup stdio", "");
  }
  for (int i = 0; i < 3; ++i) must(plan, ::dup2(tmp[i], i), "dup2 stdio", "");
}

// Everything from the process's own session to execve (run and exec modes).
[[noreturn]] void finish(const ChildPlan& plan) noexcept {
  must(plan, ::setsid(), "setsid", "");
  if (plan.tty) must(plan, ::ioctl(0, TIOCSCTTY, 0), "set controlling terminal", "stdin");
  if (::chdir(plan.cwd) < 0) die(plan, errno, "chdir to cwd", plan.cwd);

  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it while we still have it
  // (the profile allows everything that follows).
  sock_fprog prog{};
  if (plan.seccomp != nullptr) prog = *plan.seccomp;
  if (plan.seccomp != nullptr && !plan.no_new_privs) {
    must(plan, ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), "install seccomp filter", "");
  }
  const char* step = "";
  if (int rc = apply_capabilities(plan.caps, &step); rc < 0) die(plan, -rc, step, "");
  must(plan, ::syscall(SYS_setgroups, plan.n_groups, plan.groups), "setgroups", "");
  must(plan, ::syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid), "setgid", "");
  // A non-root uid clears the permitted and effective sets, as `docker run -u` does.
  must(plan, ::syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid), "setuid", "");
  if (plan.no_new_privs) must(plan, ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs", "");

  // Every inherited fd but 0-2 goes at exec, including the error pipe (already CLOEXEC).
  must(plan, ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC), "close_range", "");
  ::umask(022);
  sigset_t none;
  sigemptyset(&none);
  must(plan, ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(unsigned long)),
       "unblock signals", "");
  if (plan.seccomp != nullptr && plan.no_new_privs) {
    must(plan, ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), "install seccomp filter", "");
  }
  ::execve(plan.path, plan.argv, plan.envp);
  die(plan, errno, "exec", plan.path);
}

// Exec helper: joins the target's namespaces, starts the process as a sibling (CLONE_PARENT)
// so it is the caller's child, reports its pid and exits.
[[noreturn]] void exec_helper(const ChildPlan& plan) noexcept {
  // cgroup v1: "0" moves the writing process; the exec process inherits the cgroups at clone.
  for (size_t i = 0; i < plan.n_exec_cgroup_procs; ++i) {
    ssize_t n;
    do {
      n = ::write(plan.exec_cgroup_procs[i], "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) die(plan, errno, "join container cgroup", "cgroup.procs");
  }
  must(plan,
       ::setns(plan.exec_target_pidfd,
               CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP),
       "join namespaces", "");
  clone_args args{};
  args.flags = plan.exec_clone_flags;
  args.exit_signal = 0;  // CLONE_PARENT: the exit signal is the helper's own (SIGCHLD)
  if (plan.exec_cgroup_fd >= 0) args.cgroup = static_cast<__u64>(plan.exec_cgroup_fd);
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) die(plan, errno, "clone3", "exec process");
  if (pid == 0) {
    finish(plan);
  }
  ChildReport r;
  r.pid = static_cast<pid_t>(pid);
  ssize_t n;
  do {
    n = ::write(plan.err_fd, &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

}  // namespace

void child_main(const ChildPlan& plan) noexcept {
  // The parent's handlers must not run here, and ignored signals must not stay ignored
  // across exec. Signals stay blocked until just before execve.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);  // glibc refuses its internal signals: fine
  }
  ::umask(0);
  setup_stdio(plan);

  if (plan.exec_target_pidfd >= 0) exec_helper(plan);

  if (plan.gate_fd >= 0) {
    if (plan.gate_write_fd >= 0) ::close(plan.gate_write_fd);
    char go = 0;
    ssize_t n;
    do {
      n = ::read(plan.gate_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::syscall(SYS_exit_group, 125);  // the parent gave up
    ::close(plan.gate_fd);
  }
  if (plan.netns_fd >= 0) must(plan, ::setns(plan.netns_fd, CLONE_NEWNET), "join network namespace", "");
  setup_rootfs(plan);
  if (plan.hostname != nullptr && plan.hostname[0] != '\0') {
    size_t len = 0;
    while (plan.hostname[len] != '\0') ++len;
    must(plan, ::sethostname(plan.hostname, len), "sethostname", plan.hostname);
  }
  finish(plan);
}

}  // namespace bocker::container::detail
