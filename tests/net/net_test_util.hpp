// Helpers for the net tests: shell commands for checks, test network namespaces, sockets made
// inside a netns, and an ICMP echo ("ping") sent from inside a netns.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "bocker/net/cidr.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::net::test {

struct CmdResult {
  int status = -1;
  std::string out;  // stdout and stderr
};

inline CmdResult sh(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool have_tool(const std::string& name) { return sh("command -v " + name).status == 0; }

// A network namespace from `ip netns add`, deleted (with everything in it) on destruction.
class TestNetns {
 public:
  explicit TestNetns(std::string name) : name_(std::move(name)) {
    sh("ip netns del " + name_);
    CmdResult r = sh("ip netns add " + name_);
    if (r.status != 0) throw std::runtime_error("ip netns add " + name_ + ": " + r.out);
    fd_ = Fd(::open(path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) throw std::runtime_error("open " + path() + ": " + std::strerror(errno));
  }
  TestNetns(const TestNetns&) = delete;
  TestNetns& operator=(const TestNetns&) = delete;
  ~TestNetns() {
    fd_.reset();
    sh("ip netns del " + name_);
  }
  const std::string& name() const { return name_; }
  std::string path() const { return "/run/netns/" + name_; }
  int fd() const { return fd_.get(); }
  CmdResult exec(const std::string& cmd) const { return sh("ip netns exec " + name_ + " " + cmd); }

 private:
  std::string name_;
  Fd fd_;
};

// A socket created inside the netns `netns_fd` (it stays there); -1 with errno on failure.
inline Fd socket_in_netns(int netns_fd, int domain, int type, int protocol) {
  int result = -1;
  int err = 0;
  std::thread t([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      err = errno;
      return;  // the thread ends here; nothing else runs in it
    }
    result = ::socket(domain, type | SOCK_CLOEXEC, protocol);
    if (result < 0) err = errno;
  });
  t.join();
  errno = err;
  return Fd(result);
}

inline std::uint16_t icmp_checksum(const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2) sum += static_cast<std::uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<std::uint16_t>(~sum));
}

// Sends ICMP echo requests from inside netns `netns_fd` to `dst` (up to 3, one second apart) and
// waits for a matching echo reply. Traffic stays inside the test's own netns and bridge.
inline bool ping_from(int netns_fd, Ipv4 dst) {
  Fd s = socket_in_netns(netns_fd, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (!s) return false;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = dst.to_be();
  const std::uint16_t id = static_cast<std::uint16_t>(::getpid() ^ dst.value);
  for (std::uint16_t seq = 1; seq <= 3; ++seq) {
    icmphdr req{};
    req.type = ICMP_ECHO;
    req.un.echo.id = htons(id);
    req.un.echo.sequence = htons(seq);
    req.checksum = icmp_checksum(&req, sizeof req);
    if (::sendto(s.get(), &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{s.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      std::array<std::uint8_t, 1500> buf;
      sockaddr_in from{};
      socklen_t fl = sizeof from;
      ssize_t n = ::recvfrom(s.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < static_cast<ssize_t>(sizeof(iphdr))) continue;
      std::size_t ihl = static_cast<std::size_t>(buf[0] & 0x0f) * 4;
      if (static_cast<std::size_t>(n) < ihl + sizeof(icmphdr)) continue;
      icmphdr rep;
      std::memcpy(&rep, buf.data() + ihl, sizeof rep);
      if (rep.type == ICMP_ECHOREPLY && ntohs(rep.un.echo.id) == id && from.sin_addr.s_addr == dst.to_be()) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace bocker::net::test
