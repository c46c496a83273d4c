// Supervision of a running container (capture readers, exit, drain, cleanup) and live restore:
// a restarted bockerd re-adopts the containers the previous one left running.
//
// What a new daemon gets back (see container_logs.hpp for the log side):
//  - the process, through pidfd_open(pid), only when /proc/<pid>/stat's start time is the one
//    recorded at start (a reused pid is never adopted); stop/kill/exec work through the pidfd;
//  - its cgroup (limits, stats, kill_all at the end) and its stdout/stderr FIFOs;
//  - not its exit status in general: an adopted process is not our child, so waitid() can't
//    reap it. Its pidfd tells when it exits; the status is read from /proc/<pid>/stat while the
//    process is a zombie (not yet reaped by its new parent, usually init), else it is recorded as
//    ExitCode 255 with an Error saying it was lost. The same holds for a container that exited
//    while no daemon ran: exited, 255 unless still a zombie, its cgroup swept.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <sstream>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/scope.hpp"
#include "container_logs.hpp"
#include "fd_keeper.hpp"

namespace bocker::daemon {

namespace {

struct ProcStat {
  bool exists = false;
  char state = '?';
  std::uint64_t start = 0;
  int exit_code = -1;  // the wait(2) status of a zombie (field 52), -1 when not given
};

ProcStat proc_stat(pid_t pid) {
  ProcStat ps;
  std::string text;
  try {
    text = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::exception&) {
    return ps;
  }
  auto close = text.rfind(')');
  if (close == std::string::npos) return ps;
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string x; in >> x;) f.push_back(x);
  if (f.size() < 20) return ps;
  ps.exists = true;
  ps.state = f[0].empty() ? '?' : f[0][0];
  ps.start = std::stoull(f[19]);
  if (f.size() >= 50) ps.exit_code = std::stoi(f[49]);
  return ps;
}

rt::ExitStatus decode(int status) {
  rt::ExitStatus st;
  if (WIFSIGNALED(status)) {
    st.signal = WTERMSIG(status);
    st.code = 128 + st.signal;
    st.core_dumped = WCOREDUMP(status);
  } else {
    st.code = WEXITSTATUS(status);
  }
  return st;
}

std::string terminal_key(const Container& c) { return "pty:" + c.id; }

constexpr const char* kLostWhileDown = "exit status lost: the process ended while the daemon was down";
constexpr const char* kLostAdopted =
    "exit status lost: the process was re-adopted after a daemon restart and reaped by its new parent";

// Blocking. Re-adopts c's process if it is still the one recorded: pidfd, cgroup, FIFOs (or the
// pty master the fd keeper kept), log file. Else fills in the exit (status from a zombie when
// there is one).
bool adopt(Container& c, cgroup::Manager* mgr, FdKeeper& keeper) {
  Fd pfd;
  ProcStat ps;
  if (c.pid > 0 && c.pid_start != 0) {
    try {
      pfd = rt::pidfd_open(c.pid);
    } catch (const SystemError&) {
    }
    ps = proc_stat(c.pid);  // after pidfd_open: the pidfd and this stat are the same process
  }
  std::string short_id = c.id.substr(0, 12);
  if (!pfd || !ps.exists || ps.start != c.pid_start || ps.state == 'Z' || ps.state == 'X') {
    bool zombie = pfd && ps.exists && ps.start == c.pid_start && ps.state == 'Z' && ps.exit_code >= 0;
    c.status = "exited";
    c.paused = false;
    c.finished_ns = now_ns();
    if (zombie) {
      rt::ExitStatus st = decode(ps.exit_code);
      c.exit_code = st.code;
      c.error.clear();
    } else {
      c.exit_code = 255;
      c.error = kLostWhileDown;
    }
    c.pid = 0;
    log_line("container " + short_id + ": exited while the daemon was down (exit code " +
             std::to_string(c.exit_code) + (zombie ? ")" : ", status lost)"));
    return false;
  }
  c.pidfd = std::move(pfd);
  c.adopted = true;
  if (mgr != nullptr) {
    try {
      c.cg = mgr->open(c.id);
    } catch (const std::exception& e) {
      log_line("container " + short_id + ": re-adopted without its cgroup: " + e.what());
    }
  }
  c.paused = c.cg && c.cg->frozen();  // paused before the restart: the freezer says so
  try {
    open_log_file(c);
    if (!c.tty()) reopen_capture(c.dir, c.out_r, c.err_r);
  } catch (const std::exception& e) {
    log_line("container " + short_id + ": re-adopted without log capture: " + e.what());
  }
  if (c.tty()) {
    c.pty_master = keeper.take(terminal_key(c));
    if (c.pty_master) {
      c.stdin_w.reset(::fcntl(c.pty_master.get(), F_DUPFD_CLOEXEC, 3));
    } else {
      log_line("container " + short_id + ": re-adopted without its terminal (the fd keeper has none)");
    }
  }
  log_line("container " + short_id + ": re-adopted pid " + std::to_string(c.pid));
  return true;
}

}  // namespace

std::uint64_t process_start_time(pid_t pid) {
  ProcStat ps = proc_stat(pid);
  return ps.exists ? ps.start : 0;
}

rt::Task<rt::ExitStatus> wait_process_exit(Container& c) {
  if (!c.adopted) co_return co_await rt::wait_exit(c.pidfd.get());
  pid_t pid = c.pid;
  std::uint64_t start = c.pid_start;
  if (!co_await rt::wait_pidfd(c.pidfd.get())) throw Error(Error::Kind::kCancelled, "wait cancelled");
  ProcStat ps = co_await rt::offload([pid] { return proc_stat(pid); });
  if (ps.exists && ps.start == start && ps.state == 'Z' && ps.exit_code >= 0) co_return decode(ps.exit_code);
  c.error = kLostAdopted;
  rt::ExitStatus st;
  st.code = 255;
  co_return st;
}

rt::Task<void> ContainerService::supervisor(Container& c) {
  // One reader per FIFO (or the pty master). It waits for data with a poll, holding no buffer.
  // Unattached, a FIFO's queued bytes (up to 1 MiB) are spliced into the log file as one record
  // by a worker: no copy through the daemon. Otherwise (attached clients, a rotation due, the
  // pty) it takes a buffer (CaptureBuffer) and reads 64 KiB, growing to 1 MiB while the pipe
  // keeps the reads full, each read written as one record; no per-line work here. A short
  // read means the FIFO is drained: the buffer goes back to the pool and the reader polls
  // again. The FIFOs are O_NONBLOCK and read with read(2) right after the poll (see
  // open_fifo_reader: an io_uring read of a named FIFO goes through an io-wq thread); the pty
  // master is read with io_uring.
  auto reader = [](ContainerService& s, Container& k, int fd, int stream, bool fifo) -> rt::Task<void> {
    CaptureBuffer buf;
    std::size_t size = kCaptureFirstChunk;
    for (;;) {
      if (!buf) {
        int ev = co_await rt::poll(fd, POLLIN);
        if (ev == -EINTR) continue;
        if (ev < 0) break;  // cancelled
        // A FIFO's bytes go to the log file by splice when nobody is attached (no copy through
        // the daemon, no buffer); otherwise, and at EOF, read them.
        if (fifo && co_await s.record_spliced(k, stream, fd) > 0) continue;
        buf = CaptureBuffer::take(size);
      }
      int n;
      if (fifo) {
        ssize_t r = ::read(fd, buf.data(), buf.size());
        n = r < 0 ? -errno : static_cast<int>(r);
      } else {
        n = co_await rt::read(fd, buf.data(), static_cast<unsigned>(buf.size()));
      }
      if (n == -EINTR) continue;
      if (n == -EAGAIN) {  // drained (or a spurious poll wakeup): poll again without a buffer
        buf.reset();
        continue;
      }
      if (n <= 0) break;  // EOF, EIO on a pty whose slave closed, or cancelled
      co_await s.record(k, stream, std::string_view(buf.data(), static_cast<std::size_t>(n)));
      if (static_cast<std::size_t>(n) < buf.size()) {
        buf.reset();
      } else if (size < kCaptureChunk) {
        size = kCaptureChunk;
        buf = CaptureBuffer::take(size);
      }
    }
  };
  rt::TaskScope readers;
  if (c.tty()) {
    if (c.pty_master) readers.spawn(reader(*this, c, c.pty_master.get(), kStdout, false));
  } else {
    if (c.out_r) readers.spawn(reader(*this, c, c.out_r.get(), kStdout, true));
    if (c.err_r) readers.spawn(reader(*this, c, c.err_r.get(), kStderr, true));
  }
  co_await supervise(c);
  if (c.detached) {
    // Daemon shutdown: the container runs on; its FIFOs keep what it writes for the next daemon.
    readers.cancel();
    co_await readers.join();
    co_return;
  }
  // Output written just before the exit is still in the FIFOs: read to EOF, but don't wait
  // forever on a FIFO a process outside the container keeps open.
  auto drain = [](rt::TaskScope& r) -> rt::Task<void> { co_await r.join(); };
  try {
    co_await rt::with_timeout(drain(readers), std::chrono::seconds(2));
  } catch (const Error&) {
  }
  readers.cancel();
  co_await readers.join();
  c.out_r.reset();
  c.err_r.reset();
  c.adopted = false;
  emit(c, "die", {{"exitCode", std::to_string(c.exit_code)}});
  if (c.host_config.value("AutoRemove", false)) {
    co_await auto_remove(c);  // container_autoremove.cpp
  } else {
    co_await destroy(c);
  }
}

rt::Task<void> ContainerService::keep_terminal(Container& c) {
  FdKeeper* keeper = keeper_.get();
  std::string key = terminal_key(c);
  int master = c.pty_master.get();
  int started = co_await rt::offload([keeper, &key, master] {
    try {
      return keeper->put(key, master).release();
    } catch (const std::exception& e) {
      log_line("container " + key.substr(4, 12) + ": its terminal will not outlive this daemon: " + e.what());
      return -1;
    }
  });
  if (started < 0) co_return;
  supervisors_.spawn([](Fd pidfd) -> rt::Task<void> {  // the keeper is our child: reap it
    try {
      co_await rt::wait_exit(pidfd.get());
    } catch (const std::exception&) {  // daemon shutdown: the keeper stays for the next daemon
    }
  }(Fd(started)));
}

rt::Task<void> ContainerService::restore() {
  std::vector<Container*> running;
  for (auto& [id, c] : by_id_) {
    if (c->status == "running") running.push_back(c.get());
  }
  cgroup::Manager* mgr = cgroups_.get();
  std::vector<Container*> adopted, dead;
  FdKeeper* keeper = keeper_.get();
  for (Container* c : running) {
    bool alive = co_await rt::offload([c, mgr, keeper] { return adopt(*c, mgr, *keeper); });
    (alive ? adopted : dead).push_back(c);
  }
  // Leftover cgroups: those of containers that died while the daemon was down are emptied and
  // removed; unknown ones only when empty (another daemon on this host may own them).
  if (mgr != nullptr) {
    std::set<std::string> known_dead, keep;
    for (auto& [id, c] : by_id_) (c->running() ? keep : known_dead).insert(id);
    co_await rt::offload([mgr, &known_dead, &keep] {
      std::vector<std::string> ids;
      try {
        ids = mgr->list();
      } catch (const std::exception& e) {
        log_line(std::string("containers: cannot list leftover cgroups: ") + e.what());
      }
      for (const std::string& id : ids) {
        if (keep.count(id) != 0) continue;
        try {
          auto cg = mgr->open(id);
          if (known_dead.count(id) != 0) cg->kill_all(SIGKILL);
          cg->remove();
        } catch (const std::exception& e) {
          if (known_dead.count(id) != 0) log_line("container " + id.substr(0, 12) + ": cgroup sweep: " + e.what());
        }
      }
    });
  }
  for (Container* c : dead) {
    c->exited.notify_all();
    if (c->host_config.value("AutoRemove", false)) {
      std::string id = c->id;
      try {
        co_await remove(id, true, true);
      } catch (const std::exception& e) {
        log_line("container " + id.substr(0, 12) + ": --rm: " + e.what());
      }
      continue;
    }
    co_await save(*c);
  }
  // --rm containers that were not running (stopped part-way through their cleanup, or never
  // started): removed, as docker does at start.
  std::vector<std::string> leftover;
  for (auto& [id, c] : by_id_) {
    if (!c->running() && c->host_config.value("AutoRemove", false)) leftover.push_back(id);
  }
  for (const std::string& id : leftover) {
    try {
      co_await remove(id, true, true);
    } catch (const std::exception& e) {
      log_line("container " + id.substr(0, 12) + ": --rm: " + e.what());
    }
  }
  for (Container* c : adopted) {
    for (const auto& d : c->cg ? c->cg->dirs() : std::vector<std::string>{}) {
      cgroup_parents_.insert(d.substr(0, d.rfind('/')));
    }
    supervisors_.spawn(supervisor(*c));
  }
  if (!running.empty()) {
    log_line("containers: live restore: " + std::to_string(adopted.size()) + " re-adopted, " +
             std::to_string(dead.size()) + " exited while the daemon was down");
  }
}

}  // namespace bocker::daemon
