// `docker exec`: a process started inside a running container's namespaces and cgroup, with the
// container's environment, user and working directory as defaults. The start either hijacks the
// connection (framed stdout/stderr, raw with a TTY; stdin forwarded, its half-close closing the
// process's stdin) or runs the process in the background (Detach). Exec records live in memory
// with their container and go with it.
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include <chrono>
#include <cstring>

#include "bocker/container/spawn.hpp"
#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

namespace {

// Serialises frames written to one socket by several reader tasks (a partial write of one frame
// must not interleave with another).
struct SockWriter {
  int fd = -1;
  bool busy = false;
  bool broken = false;
  rt::Notifier idle;

  // `data` must outlive the await (callers keep it in their frame: GCC 12 mishandles temporaries
  // passed by value into coroutines).
  rt::Task<void> send(const std::string& data) {
    while (busy) co_await idle.wait();
    if (broken) co_return;
    busy = true;
    long n = co_await rt::write_all(fd, data, true);
    busy = false;
    idle.notify_all();
    if (n < 0) broken = true;
  }
};

std::string frame(int stream, std::string_view data) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  std::uint32_t be = htobe32(static_cast<std::uint32_t>(data.size()));
  std::memcpy(f.data() + 4, &be, 4);
  f.append(data);
  return f;
}

// The process's stdio as the daemon holds it.
struct ExecIo {
  Fd out_r, err_r, in_w;  // pipes (no TTY); -1 when not attached
  Fd pty_master;          // TTY
};

std::string key_of(const std::string& env) { return env.substr(0, env.find('=')); }

// The container's /dev/pts/ptmx, resolved inside its root (symlinks cannot leave it) and checked
// to be a devpts file. Invalid Fd when there is none.
Fd container_ptmx(pid_t pid) {
  if (pid <= 0) return Fd();
  std::string root_path = "/proc/" + std::to_string(pid) + "/root";
  Fd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Fd();
  open_how how{};
  how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  Fd m(static_cast<int>(::syscall(SYS_openat2, root.get(), "dev/pts/ptmx", &how, sizeof how)));
  if (!m) return Fd();
  struct statfs sf {};
  if (::fstatfs(m.get(), &sf) != 0 || sf.f_type != DEVPTS_SUPER_MAGIC) return Fd();
  return m;
}

}  // namespace

std::pair<Container*, std::shared_ptr<Exec>> ContainerService::find_exec(const std::string& exec_id) const {
  for (const auto& [id, c] : by_id_) {
    if (auto it = c->execs.find(exec_id); it != c->execs.end()) return {c.get(), it->second};
  }
  throw not_found("No such exec instance: " + exec_id);
}

rt::Task<std::string> ContainerService::exec_create(std::string name, api::ExecCreateRequest req) {
  Container& c = find(name);
  if (!c.running() || !c.pidfd) throw conflict("container " + c.id + " is not running");
  if (c.paused) throw conflict("Container " + c.id + " is paused, unpause the container before exec");
  if (req.cmd.empty() || req.cmd[0].empty()) throw invalid("No exec command specified");
  for (const auto& e : req.env) {
    if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos) {
      throw invalid("invalid environment variable \"" + e + "\" in exec: expected KEY=VALUE");
    }
  }
  auto e = std::make_shared<Exec>();
  do {
    e->id = image::random_id();
  } while (c.execs.count(e->id) != 0);
  e->container_id = c.id;
  e->argv = std::move(req.cmd);
  e->env = std::move(req.env);
  e->user = std::move(req.user);
  e->workdir = std::move(req.working_dir);
  e->detach_keys = std::move(req.detach_keys);
  e->tty = req.tty;
  e->attach_stdin = req.attach_stdin;
  e->attach_stdout = req.attach_stdout;
  e->attach_stderr = req.attach_stderr;
  e->privileged = req.privileged;
  c.execs[e->id] = e;
  co_return e->id;
}

rt::Task<nlohmann::json> ContainerService::exec_inspect(std::string exec_id) {
  auto [c, e] = find_exec(exec_id);
  (void)c;
  nlohmann::json args = nlohmann::json::array();
  for (std::size_t i = 1; i < e->argv.size(); ++i) args.push_back(e->argv[i]);
  co_return nlohmann::json{
      {"ID", e->id},
      {"Running", e->running},
      {"ExitCode", e->exited ? nlohmann::json(e->exit_code) : nlohmann::json()},
      {"ProcessConfig",
       {{"privileged", e->privileged},
        {"user", e->user},
        {"tty", e->tty},
        {"entrypoint", e->argv.empty() ? std::string() : e->argv[0]},
        {"arguments", args}}},
      {"OpenStdin", e->attach_stdin},
      {"OpenStderr", e->attach_stderr},
      {"OpenStdout", e->attach_stdout},
      {"CanRemove", false},
      {"ContainerID", e->container_id},
      {"DetachKeys", e->detach_keys},
      {"Pid", e->pid},
  };
}

rt::Task<void> ContainerService::exec_resize(std::string exec_id, int h, int w) {
  auto [c, e] = find_exec(exec_id);
  (void)c;
  if (e->pty_master && h > 0 && w > 0) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(h);
    ws.ws_col = static_cast<unsigned short>(w);
    ::ioctl(e->pty_master.get(), TIOCSWINSZ, &ws);
  }
  co_return;
}

// Spawns the exec's process. `attach`: the daemon keeps the other ends of its stdio in `io`.
namespace {
rt::Task<container::Spawned> spawn_exec_process(Container& c, Exec& e, bool attach, ExecIo& io) {
  if (!c.running() || !c.pidfd) throw conflict("container " + c.id + " is not running");
  container::ExecSpec spec;
  spec.argv = e.argv;
  spec.env = c.config.value("Env", std::vector<std::string>{});
  for (const auto& kv : e.env) {
    std::string key = key_of(kv);
    std::erase_if(spec.env, [&key](const std::string& x) { return key_of(x) == key; });
    spec.env.push_back(kv);
  }
  spec.user = !e.user.empty() ? e.user : c.config.value("User", "");
  spec.cwd = !e.workdir.empty() ? e.workdir : c.config.value("WorkingDir", "");
  if (spec.cwd.empty()) spec.cwd = "/";
  spec.tty = e.tty && attach;

  Fd out_w, err_w, in_r, slave;
  if (attach && e.tty) {
    // A pty of the container's own devpts instance, so ttyname() works inside; the host's when
    // the container has none.
    Fd m = container_ptmx(c.pid);
    int s = -1;
    if (m) {
      if (int unlock = 0; ::ioctl(m.get(), TIOCSPTLCK, &unlock) == 0) {
        s = ::ioctl(m.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
      }
      if (s < 0) m.reset();
    }
    if (!m) {
      int mm = -1;
      if (::openpty(&mm, &s, nullptr, nullptr, nullptr) != 0) throw SystemError(errno, "openpty", "exec " + e.id);
      m.reset(mm);
      ::fcntl(mm, F_SETFD, FD_CLOEXEC);
      ::fcntl(s, F_SETFD, FD_CLOEXEC);
    }
    io.pty_master = std::move(m);
    slave.reset(s);
    spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = s;
  } else if (attach) {
    if (e.attach_stdout) {
      Pipe p = Pipe::make("exec stdout");
      io.out_r = std::move(p.r);
      out_w = std::move(p.w);
      spec.stdout_fd = out_w.get();
    }
    if (e.attach_stderr) {
      Pipe p = Pipe::make("exec stderr");
      io.err_r = std::move(p.r);
      err_w = std::move(p.w);
      spec.stderr_fd = err_w.get();
    }
    if (e.attach_stdin) {
      Pipe p = Pipe::make("exec stdin");
      in_r = std::move(p.r);
      io.in_w = std::move(p.w);
      spec.stdin_fd = in_r.get();
    }
  }
  // The container's cgroup: v2 clones into it, v1 has the helper move itself into every hierarchy.
  // Through `tasks` (the helper is single-threaded, so its thread is the process): moving the
  // calling thread takes no global lock, cgroup.procs would cost an RCU grace period.
  if (c.cg) {
    spec.cgroup_fd = c.cg->dir_fd_for_clone();
    if (spec.cgroup_fd < 0) {
      for (const auto& d : c.cg->dirs()) spec.cgroup_procs.push_back(d + "/tasks");
    }
  }
  // Our own reference to PID 1: the supervisor may drop the container's while we spawn.
  Fd target(::fcntl(c.pidfd.get(), F_DUPFD_CLOEXEC, 3));
  if (!target) throw SystemError(errno, "dup pidfd", "container " + c.id);
  container::Spawned sp = co_await rt::offload([&spec, &target] { return container::spawn_exec(target.get(), spec); });
  co_return sp;
}
}  // namespace

rt::Task<void> ContainerService::exec_start(std::string exec_id, bool detach, http::Request& req,
                                            http::ResponseWriter& w) {
  auto [cp, e] = find_exec(exec_id);
  Container& c = *cp;
  if (e->started) throw conflict("Error: Exec command " + e->id + " has already run");
  if (!c.running() || !c.pidfd) throw conflict("container " + c.id + " is not running");
  if (c.paused) throw conflict("Container " + c.id + " is paused, unpause the container before exec");
  e->started = true;

  if (detach) {
    ExecIo io;
    container::Spawned sp;
    try {
      sp = co_await spawn_exec_process(c, *e, false, io);
    } catch (...) {
      e->exited = true;
      e->exit_code = 126;
      e->done.notify_all();
      throw;
    }
    e->pid = sp.pid;
    e->running = true;
    co_await w.send(http::Response::empty(200));
    supervisors_.spawn([](std::shared_ptr<Exec> x, Fd pidfd) -> rt::Task<void> {
      rt::ExitStatus st;
      try {
        st = co_await rt::wait_exit(pidfd.get());
      } catch (const std::exception&) {
        st.code = 255;  // the daemon is shutting down
      }
      x->exit_code = st.code;
      x->running = false;
      x->exited = true;
      x->pid = 0;
      x->done.notify_all();
    }(e, std::move(sp.pidfd)));
    co_return;
  }

  http::Headers h;
  h.add("Content-Type", e->tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  bool upgrade = req.upgrade;
  if (upgrade) {
    h.add("Connection", "Upgrade");
    h.add("Upgrade", "tcp");
  }
  http::Hijacked hj = co_await w.hijack(upgrade ? 101 : 200, std::move(h), upgrade ? "UPGRADED" : "OK");
  auto out = std::make_shared<SockWriter>();
  out->fd = hj.fd.get();
  // An upgrade request's body (its {"Detach","Tty"}) is not parsed by the server: it comes first
  // in the hijacked stream and is not stdin.
  if (req.upgrade && req.body.empty()) {
    std::size_t cl = 0;
    try {
      cl = std::stoul(req.headers.get_or("Content-Length", "0"));
    } catch (const std::exception&) {
    }
    cl = std::min<std::size_t>(cl, 1 << 20);
    std::size_t taken = std::min(cl, hj.leftover.size());
    hj.leftover.erase(0, taken);
    std::vector<char> skip(4096);
    for (std::size_t left = cl - taken; left > 0;) {
      int n = co_await rt::recv(hj.fd.get(), skip.data(), std::min(left, skip.size()));
      if (n <= 0) break;
      left -= static_cast<std::size_t>(n);
    }
  }

  ExecIo io;
  container::Spawned sp;
  std::string failure;
  int failure_code = 126;
  try {
    sp = co_await spawn_exec_process(c, *e, true, io);
  } catch (const container::SpawnError& err) {
    failure = err.what();
    failure_code = err.exit_code();
  } catch (const std::exception& err) {
    failure = err.what();
  }
  if (!failure.empty()) {
    // Docker writes the start error into the stream; the CLI takes the code from the exec's inspect.
    std::string msg = "OCI runtime exec failed: " + failure + ": unknown\r\n";
    std::string chunk = e->tty ? msg : frame(kStdout, msg);
    co_await out->send(chunk);
    e->exit_code = failure_code;
    e->exited = true;
    e->done.notify_all();
    ::shutdown(hj.fd.get(), SHUT_WR);
    char buf[4096];
    auto drain_in = [](int sock, char* b, std::size_t n) -> rt::Task<void> {
      while (co_await rt::recv(sock, b, n) > 0) {
      }
    };
    try {
      co_await rt::with_timeout(drain_in(hj.fd.get(), buf, sizeof buf), std::chrono::seconds(2));
    } catch (const Error&) {
    }
    co_return;
  }
  e->pid = sp.pid;
  e->running = true;
  if (io.pty_master) e->pty_master.reset(::fcntl(io.pty_master.get(), F_DUPFD_CLOEXEC, 3));

  // Output to the client.
  auto reader = [](int fd, int stream, bool raw, std::shared_ptr<SockWriter> sw) -> rt::Task<void> {
    std::vector<char> buf(64 * 1024);
    for (;;) {
      int n = co_await rt::read(fd, buf.data(), static_cast<unsigned>(buf.size()));
      if (n == -EINTR || n == -EAGAIN) continue;
      if (n <= 0) break;  // EOF, EIO on a pty whose slave closed, or cancelled
      std::string_view data(buf.data(), static_cast<std::size_t>(n));
      std::string chunk = raw ? std::string(data) : frame(stream, data);
      co_await sw->send(chunk);
    }
  };
  rt::TaskScope readers;
  if (io.pty_master) readers.spawn(reader(io.pty_master.get(), kStdout, true, out));
  if (io.out_r) readers.spawn(reader(io.out_r.get(), kStdout, false, out));
  if (io.err_r) readers.spawn(reader(io.err_r.get(), kStderr, false, out));

  // Input from the client: its half-close closes the process's stdin (pipes).
  rt::TaskScope input;
  int in_fd = io.pty_master ? io.pty_master.get() : io.in_w.get();
  if (e->attach_stdin && in_fd >= 0) {
    input.spawn([](int sock, int fd, Fd* pipe_w, std::string early) -> rt::Task<void> {
      if (!early.empty() && co_await rt::write_all(fd, early) < 0) co_return;
      std::vector<char> buf(32 * 1024);
      for (;;) {
        int n = co_await rt::recv(sock, buf.data(), buf.size());
        if (n <= 0) break;
        if (co_await rt::write_all(fd, std::string_view(buf.data(), static_cast<std::size_t>(n))) < 0) break;
      }
      if (pipe_w != nullptr) pipe_w->reset();
    }(hj.fd.get(), in_fd, io.pty_master ? nullptr : &io.in_w, std::move(hj.leftover)));
  }

  rt::ExitStatus st;
  try {
    st = co_await rt::wait_exit(sp.pidfd.get());
  } catch (const std::exception& err) {
    log_line("exec " + e->id.substr(0, 12) + ": wait: " + err.what());
    st.code = 255;
  }
  // Output written just before the exit is still buffered: read to EOF, but not forever when a
  // background child keeps the pipe open.
  auto drain = [](rt::TaskScope& r) -> rt::Task<void> { co_await r.join(); };
  try {
    co_await rt::with_timeout(drain(readers), std::chrono::seconds(2));
  } catch (const Error&) {
  }
  readers.cancel();
  co_await readers.join();
  e->exit_code = st.code;
  e->running = false;
  e->exited = true;
  e->pid = 0;
  e->pty_master.reset();
  e->done.notify_all();
  // EOF to the client, then wait (briefly) for it to close: closing a unix socket with unread
  // bytes in its queue would reset the client's connection before it has read everything.
  ::shutdown(hj.fd.get(), SHUT_WR);
  if (input.size() == 0) {
    input.spawn([](int sock) -> rt::Task<void> {
      char buf[4096];
      while (co_await rt::recv(sock, buf, sizeof buf) > 0) {
      }
    }(hj.fd.get()));
  }
  auto settle = [](rt::TaskScope& t) -> rt::Task<void> { co_await t.join(); };
  try {
    co_await rt::with_timeout(settle(input), std::chrono::seconds(2));
  } catch (const Error&) {
  }
  input.cancel();
  co_await input.join();
}

}  // namespace bocker::daemon
