// The fd keeper: the daemon's client side and the keeper process. See fd_keeper.hpp.
#include "fd_keeper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/process.hpp"

namespace bocker::daemon {
namespace {

constexpr std::size_t kMaxMessage = 512;
constexpr int kListenFd = 3;

// The socket's address; throws when the path does not fit in sun_path.
socklen_t socket_address(const std::string& path, sockaddr_un* a) {
  *a = sockaddr_un{};
  a->sun_family = AF_UNIX;
  if (path.size() >= sizeof a->sun_path) throw SystemError(ENAMETOOLONG, "fd keeper socket", path);
  std::memcpy(a->sun_path, path.data(), path.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// One message, with `fd` attached when >= 0. False with errno set.
bool send_message(int sock, const std::string& text, int fd) {
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
  if (fd >= 0) {
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  return ::sendmsg(sock, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// One message and the fd it carried (O_CLOEXEC; invalid when none). False at EOF or on an error
// (errno set; 0 at EOF).
bool receive_message(int sock, std::string* text, Fd* fd) {
  char buf[kMaxMessage];
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
      int got = -1;
      std::memcpy(&got, CMSG_DATA(c), sizeof got);
      fd->reset(got);
    }
  }
  if (n <= 0) {
    if (n == 0) errno = 0;
    return false;
  }
  text->assign(buf, static_cast<std::size_t>(n));
  return true;
}

// One request on a new connection. False with errno set when no keeper answered it (nobody
// listens, or the keeper went away before replying: it was exiting).
bool request(const std::string& path, const std::string& text, int send_fd, std::string* reply, Fd* got) {
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return false;
  set_timeouts(s.get(), 5);
  sockaddr_un a;
  socklen_t len = socket_address(path, &a);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) return false;
  if (!send_message(s.get(), text, send_fd)) return false;
  return receive_message(s.get(), reply, got);
}

// Starts a keeper listening on `path`. The daemon binds the socket itself and hands it over as
// fd 3, so requests are queued from the first moment. An invalid Fd when a keeper already
// listens there, else the new keeper's pidfd. A socket file nobody listens on (a keeper that was
// killed) is replaced.
Fd start_keeper(const std::string& path) {
  Fd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l) throw SystemError(errno, "socket", "for the fd keeper");
  sockaddr_un a;
  socklen_t len = socket_address(path, &a);
  if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) {
    if (errno != EADDRINUSE) throw SystemError(errno, "bind", path);
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&a), len) == 0) return Fd();
    ::unlink(path.c_str());
    if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) != 0) throw SystemError(errno, "bind", path);
  }
  if (::listen(l.get(), 16) != 0) throw SystemError(errno, "listen", path);
  Fd high(::fcntl(l.get(), F_DUPFD_CLOEXEC, 10));  // not fd 3 itself: dup2(3, 3) would keep CLOEXEC
  if (!high) throw SystemError(errno, "dup", path);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, high.get(), kListenFd);
  for (int std_fd = 0; std_fd <= 2; ++std_fd) {  // holding the daemon's stdio would keep its pipes open
    posix_spawn_file_actions_addopen(&fa, std_fd, "/dev/null", std_fd == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);  // the daemon blocks SIGTERM/SIGINT in every thread
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char arg0[] = "bockerd", arg1[] = "--fd-keeper", env0[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* argv[] = {arg0, arg1, nullptr};
  char* envp[] = {env0, nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw SystemError(rc, "start the fd keeper", "/proc/self/exe --fd-keeper");
  try {
    return rt::pidfd_open(pid);
  } catch (...) {  // no pidfd to reap it by: stop and reap it now rather than leave it unowned
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
}

// The keeper's side of one connection.
void serve(int listen_fd, std::vector<std::pair<std::string, Fd>>& held) {
  Fd c(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!c) return;
  set_timeouts(c.get(), 2);
  ucred cr{};
  socklen_t len = sizeof cr;
  if (::getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.uid != ::geteuid()) return;
  std::string text;
  Fd fd;
  if (!receive_message(c.get(), &text, &fd)) return;
  bool put = text.rfind("put ", 0) == 0, take = text.rfind("take ", 0) == 0;
  std::string key = put ? text.substr(4) : take ? text.substr(5) : "";
  auto it = held.begin();
  while (it != held.end() && it->first != key) ++it;
  if (put && !key.empty() && fd) {
    if (it != held.end()) held.erase(it);
    held.emplace_back(key, std::move(fd));
    send_message(c.get(), "ok", -1);
  } else if (take && it != held.end()) {
    send_message(c.get(), "ok", it->second.get());
  } else {
    send_message(c.get(), take ? "none" : "bad request", -1);
  }
}

}  // namespace

FdKeeper::FdKeeper(const std::string& daemon_root) : path_(daemon_root + "/fdkeeper.sock") {}

Fd FdKeeper::put(const std::string& key, int fd) {
  std::lock_guard lock(mu_);
  Fd started;
  int last = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string reply;
    Fd none;
    if (request(path_, "put " + key, fd, &reply, &none)) {
      if (reply == "ok") return started;
      throw Error("fd keeper " + path_ + ": put " + key + ": " + reply);
    }
    last = errno != 0 ? errno : ECONNRESET;  // 0: the connection closed without a reply
    // Nobody listens (ECONNREFUSED), or the keeper was exiting: start one (unless a keeper
    // appeared meanwhile) and ask again.
    if (!started) started = start_keeper(path_);
  }
  throw SystemError(last, "hand over to the fd keeper", path_ + " (" + key + ")");
}

Fd FdKeeper::take(const std::string& key) {
  std::lock_guard lock(mu_);
  std::string reply;
  Fd got;
  if (!request(path_, "take " + key, -1, &reply, &got) || reply != "ok") return Fd();
  return got;
}

int fd_keeper_main() {
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  struct stat st{};
  if (::fstat(kListenFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::fputs("bockerd --fd-keeper: fd 3 is not the keeper's socket (started by bockerd only)\n", stderr);
    return 2;
  }
  ::close_range(kListenFd + 1, ~0U, 0);  // nothing of the daemon's but the socket
  std::vector<std::pair<std::string, Fd>> held;
  bool served = false;
  for (;;) {
    if (served && held.empty()) break;
    std::vector<pollfd> p{{kListenFd, POLLIN, 0}};
    for (const auto& h : held) p.push_back({h.second.get(), 0, 0});  // POLLHUP is always reported
    int n = ::poll(p.data(), p.size(), served ? -1 : 10000);  // started but never asked: leave
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (std::size_t i = held.size(); i-- > 0;) {
      if ((p[i + 1].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) held.erase(held.begin() + static_cast<long>(i));
    }
    if ((p[0].revents & POLLIN) != 0) {
      serve(kListenFd, held);
      served = true;
    }
  }
  // Unlinked before the socket closes: a daemon that finds no file starts a new keeper.
  sockaddr_un a{};
  socklen_t len = sizeof a;
  if (::getsockname(kListenFd, reinterpret_cast<sockaddr*>(&a), &len) == 0 && a.sun_path[0] != 0) {
    ::unlink(a.sun_path);
  }
  ::close(kListenFd);
  return 0;
}

}  // namespace bocker::daemon
