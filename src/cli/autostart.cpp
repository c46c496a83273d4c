#include "bocker/cli/autostart.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace bocker::cli {
namespace {

bool is_executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The last `n` lines of the file at `path`, for error messages ("" when unreadable).
std::string tail_lines(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "was killed by signal " + std::to_string(WTERMSIG(st));
  return "stopped";
}

}  // namespace

std::string cannot_connect_message(const Host& host) {
  return "Cannot connect to the bocker daemon at " + host.uri + ". Is bockerd running?";
}

bool autostart_enabled(const Host& host, const Env& env) {
  return host.is_unix() && env.get_or("BOCKER_NO_AUTOSTART", "") != "1";
}

std::string find_daemon_binary(const Env& env) {
  if (auto p = env.get("BOCKER_DAEMON_PATH"); p && !p->empty()) {
    if (!is_executable(*p)) throw not_found("BOCKER_DAEMON_PATH " + *p + " is not an executable file");
    return *p;
  }
  std::vector<std::string> tried;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // Installed side by side; in a build tree bockerd is in src/daemon/ next to src/cli/.
    for (const auto& cand :
         {self.parent_path() / "bockerd", self.parent_path().parent_path() / "daemon" / "bockerd"}) {
      if (is_executable(cand.string())) return cand.string();
      tried.push_back(cand.string());
    }
  }
  std::string path = env.get_or("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  std::stringstream ss(path);
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (dir.empty()) continue;
    std::string cand = dir + "/bockerd";
    if (is_executable(cand)) return cand;
  }
  tried.push_back("$PATH");
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  throw not_found("bockerd not found (looked in " + where + "; set BOCKER_DAEMON_PATH)");
}

Fd open_daemon_log(const Env& env, std::string& path) {
  auto try_open = [](const std::string& p) {
    return Fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640));
  };
  if (auto p = env.get("BOCKER_DAEMON_LOG"); p && !p->empty()) {
    Fd fd = try_open(*p);
    if (!fd) throw SystemError(errno, "open daemon log", *p);
    path = *p;
    return fd;
  }
  if (::mkdir("/var/log/bocker", 0755) == 0 || errno == EEXIST) {
    path = "/var/log/bocker/bockerd.log";
    if (Fd fd = try_open(path)) return fd;
  }
  path = "/tmp/bockerd-" + std::to_string(::getuid()) + ".log";
  Fd fd = try_open(path);
  if (!fd) throw SystemError(errno, "open daemon log", path);
  return fd;
}

pid_t spawn_daemon(const std::string& binary, const Host& host, const Env& env, int log_fd) {
  std::vector<std::string> args = {binary, "--host", host.uri};
  if (auto root = env.get("BOCKER_ROOT"); root && !root->empty()) {
    args.push_back("--root");
    args.push_back(*root);
  }
  if (auto metrics = env.get("BOCKER_METRICS_ADDR"); metrics) {
    args.push_back("--metrics-addr=" + *metrics);
  }
  if (auto bridge = env.get("BOCKER_BRIDGE"); bridge && !bridge->empty()) {
    args.push_back("--bridge");
    args.push_back(*bridge);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) throw SystemError(errno, "open", "/dev/null");
  int p[2];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe2", "for bockerd exec status");
  Fd rd(p[0]), wr(p[1]);

  pid_t pid = ::fork();
  if (pid < 0) throw SystemError(errno, "fork for", binary);
  if (pid == 0) {  // child: async-signal-safe calls only
    ::setsid();
    if (::dup2(devnull.get(), 0) < 0 || ::dup2(devnull.get(), 1) < 0 || ::dup2(log_fd, 2) < 0) {
      int e = errno;
      (void)!::write(wr.get(), &e, sizeof(e));
      ::_exit(127);
    }
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(argv[0], argv.data());
    int e = errno;
    (void)!::write(wr.get(), &e, sizeof(e));
    ::_exit(127);
  }
  wr.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(rd.get(), &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    throw SystemError(child_errno, "exec", binary);
  }
  return pid;
}

Client connect_daemon(const Host& host, const Env& env, std::ostream& err) {
  Client client(host);
  try {
    client.connect();  // no ping: the first request settles the API version (see Client::negotiate)
    return client;
  } catch (const ConnectError& e) {
    if (e.err() == EACCES) {
      throw ConnectError(
          e.err(), "permission denied while trying to connect to the bocker daemon socket at " + host.uri);
    }
    bool retryable = e.err() == ENOENT || e.err() == ECONNREFUSED;
    if (!retryable || !autostart_enabled(host, env))
      throw ConnectError(e.err(), cannot_connect_message(host));
  }

  std::string binary;
  std::string log_path;
  pid_t pid = -1;
  try {
    binary = find_daemon_binary(env);
    Fd log = open_daemon_log(env, log_path);
    pid = spawn_daemon(binary, host, env, log.get());
  } catch (const std::exception& e) {
    throw ConnectError(ECONNREFUSED,
                       cannot_connect_message(host) + "\nbocker: could not start bockerd: " + e.what());
  }
  err << "bocker: no daemon answered on " << host.uri << "; started " << binary << " (pid " << pid
      << "), log in " << log_path << "\n";
  err.flush();

  double timeout_s = 10;
  if (auto t = env.get("BOCKER_AUTOSTART_TIMEOUT"); t && !t->empty()) {
    auto [p, ec] = std::from_chars(t->data(), t->data() + t->size(), timeout_s);
    if (ec != std::errc() || p != t->data() + t->size() || timeout_s <= 0) {
      throw invalid("BOCKER_AUTOSTART_TIMEOUT=\"" + *t + "\" is not a positive number of seconds");
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      throw Error("bockerd (pid " + std::to_string(pid) + ") " + describe_wait_status(st) +
                  " before answering on " + host.uri + "; last lines of " + log_path + ":\n" +
                  tail_lines(log_path, 10));
    }
    try {
      client.negotiate();
      return client;
    } catch (const ConnectError&) {
      if (std::chrono::steady_clock::now() >= deadline) {
        throw Error("bockerd (pid " + std::to_string(pid) + ") did not answer on " + host.uri + " within " +
                    std::to_string(static_cast<int>(timeout_s)) + "s; see " + log_path);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace bocker::cli
