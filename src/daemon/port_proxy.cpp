// The userland side of published ports: a TCP splice proxy and a UDP flow relay. See port_proxy.hpp.
#include "port_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/io.hpp"

namespace bocker::daemon {
namespace {
// One direction of a proxied connection: splices until EOF, then half-closes the other side.
// On an error both sockets are shut down so the opposite direction ends too.
rt::Task<void> pump(int from, int to) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
    co_return;
  }
  Fd r(p[0]), w(p[1]);
  for (;;) {
    long n = co_await rt::splice_through(from, to, r.get(), w.get(), 64 * 1024);
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n == 0) {
      ::shutdown(to, SHUT_WR);
      break;
    }
    if (n < 0) {
      ::shutdown(from, SHUT_RDWR);
      ::shutdown(to, SHUT_RDWR);
      break;
    }
  }
}

rt::Task<void> proxy_connection(int client_fd, sockaddr_in target) {
  Fd client(client_fd);
  Fd up(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!up) co_return;
  int rc = co_await rt::connect(up.get(), reinterpret_cast<const sockaddr*>(&target), sizeof target)
               .timeout(std::chrono::seconds(10));
  if (rc < 0) co_return;  // the client sees the connection closed, as with docker-proxy
  std::vector<rt::Task<void>> both;
  both.push_back(pump(client.get(), up.get()));
  both.push_back(pump(up.get(), client.get()));
  co_await rt::when_all(std::move(both));
}

// The relay's flows. A Flow is only touched on the loop thread; `flows` owns the sockets, and an
// entry is erased by its own flow task when it ends (idle, error or cancel).
struct Flow {
  Fd fd;
  std::chrono::steady_clock::time_point last;
};
struct UdpRelay {
  int sock_fd;
  sockaddr_in target;
  std::unordered_map<std::uint64_t, Flow> flows;  // nodes are stable: a Flow& outlives rehashes
};

std::uint64_t flow_key(const sockaddr_in& a) {
  return (std::uint64_t{a.sin_addr.s_addr} << 16) | a.sin_port;
}

// One datagram at a time: every relay receives into it and forwards before it suspends again.
std::vector<char>& datagram() {
  thread_local std::vector<char> buf(65536);
  return buf;
}

bool transient(int err) { return err == EINTR || err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH; }

// Carries the container's replies from flow `key` back to `client` until the flow is idle for
// kUdpFlowIdleSeconds or the scope is cancelled.
rt::Task<void> udp_flow(std::shared_ptr<UdpRelay> relay, std::uint64_t key, sockaddr_in client) {
  using clock = std::chrono::steady_clock;
  const auto idle = std::chrono::seconds(kUdpFlowIdleSeconds);
  Flow& flow = relay->flows.at(key);
  for (bool open = true; open;) {
    int r = co_await rt::poll(flow.fd.get(), POLLIN).timeout(flow.last + idle - clock::now());
    if (r == -ETIMEDOUT) {
      open = clock::now() - flow.last < idle;
      continue;
    }
    if (r < 0) break;  // cancelled
    std::vector<char>& buf = datagram();
    for (;;) {
      ssize_t n = ::recv(flow.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (transient(errno)) continue;  // an ICMP error from an earlier datagram: reported once
        open = errno == EAGAIN;
        break;
      }
      flow.last = clock::now();
      ::sendto(relay->sock_fd, buf.data(), static_cast<std::size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&client), sizeof client);
    }
  }
  relay->flows.erase(key);
}

// The flow for `client`, made when there is none: nullptr when it cannot be (at the flow limit, or
// the socket cannot be made), and the datagram is dropped.
Flow* flow_for(const std::shared_ptr<UdpRelay>& relay, const sockaddr_in& client, rt::TaskScope& scope) {
  std::uint64_t key = flow_key(client);
  auto it = relay->flows.find(key);
  if (it != relay->flows.end()) return &it->second;
  if (relay->flows.size() >= kUdpMaxFlows) return nullptr;
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s || ::connect(s.get(), reinterpret_cast<const sockaddr*>(&relay->target), sizeof relay->target) != 0) {
    return nullptr;
  }
  Flow& f = relay->flows[key];
  f.fd = std::move(s);
  f.last = std::chrono::steady_clock::now();
  scope.spawn(udp_flow(relay, key, client));
  return &f;
}

}  // namespace

rt::Task<void> tcp_proxy(int listen_fd, sockaddr_in target, rt::TaskScope& scope) {
  for (;;) {
    int fd = co_await rt::accept(listen_fd);
    if (fd == -ECANCELED || fd == -EBADF || fd == -EINVAL) break;
    if (fd < 0) {
      if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
        if (!co_await rt::sleep_for(std::chrono::milliseconds(100))) break;
      }
      continue;
    }
    scope.spawn(proxy_connection(fd, target));
  }
}

rt::Task<void> udp_proxy(int sock_fd, sockaddr_in target, rt::TaskScope& scope) {
  auto relay = std::make_shared<UdpRelay>();
  relay->sock_fd = sock_fd;
  relay->target = target;
  for (;;) {
    int r = co_await rt::poll(sock_fd, POLLIN);
    if (r < 0) break;  // cancelled
    std::vector<char>& buf = datagram();
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(sock_fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) {
        if (transient(errno)) continue;
        if (errno == EAGAIN) break;
        log_line("udp proxy to port " + std::to_string(ntohs(target.sin_port)) + ": recvfrom: " + errno_text(errno));
        co_return;  // the port stays held; DNAT still forwards what it sees
      }
      if (len != sizeof from || from.sin_family != AF_INET) continue;
      if (Flow* f = flow_for(relay, from, scope)) {
        f->last = std::chrono::steady_clock::now();
        ::send(f->fd.get(), buf.data(), static_cast<std::size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
      }
    }
  }
}

}  // namespace bocker::daemon
