// A small HTTP/1.1 load generator on bocker's own io_uring runtime: C keep-alive connections
// over a unix socket (or TCP), each sending GET requests back to back for D seconds.
// Prints requests/s and latency percentiles; one line of JSON with --json.
//
//   http_load --unix /run/bocker.sock --path /_ping --connections 32 --seconds 5
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bocker/runtime/runtime.hpp"

namespace rt = bocker::rt;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string unix_path;
  std::string tcp_host = "127.0.0.1";
  int tcp_port = 0;
  std::string path = "/_ping";
  int connections = 32;
  double seconds = 5;
  bool json = false;
};

struct Stats {
  std::vector<double> latencies_us;
  long requests = 0;
  long errors = 0;
};

bocker::Fd dial(const Options& o) {
  if (!o.unix_path.empty()) {
    bocker::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", o.unix_path.c_str());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw bocker::SystemError(errno, "connect", o.unix_path);
    return fd;
  }
  bocker::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.tcp_port));
  ::inet_pton(AF_INET, o.tcp_host.c_str(), &a.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw bocker::SystemError(errno, "connect", o.tcp_host);
  return fd;
}

// Finds the end of one response (Content-Length bodies only) in buf; returns its size or 0.
size_t response_size(const std::string& buf) {
  auto head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  size_t len = 0;
  auto cl = buf.find("Content-Length:");
  if (cl == std::string::npos) cl = buf.find("content-length:");
  if (cl != std::string::npos && cl < head_end) len = std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
  size_t total = head_end + 4 + len;
  return buf.size() >= total ? total : 0;
}

rt::Task<void> client(const Options& o, Clock::time_point end, Stats& st) {
  bocker::Fd fd = dial(o);
  std::string req = "GET " + o.path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: bocker-http-load\r\n\r\n";
  std::string buf;
  char chunk[16384];
  while (Clock::now() < end) {
    auto t0 = Clock::now();
    if (co_await rt::write_all(fd.get(), req, true) < 0) {
      ++st.errors;
      co_return;
    }
    size_t got = 0;
    while ((got = response_size(buf)) == 0) {
      int n = co_await rt::recv(fd.get(), chunk, sizeof chunk);
      if (n <= 0) {
        ++st.errors;
        co_return;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    if (buf.compare(0, 12, "HTTP/1.1 200") != 0) ++st.errors;
    buf.erase(0, got);
    st.latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    ++st.requests;
  }
}

rt::Task<void> run_all(const Options& o, Stats& st) {
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  rt::TaskScope scope;
  for (int i = 0; i < o.connections; ++i) scope.spawn(client(o, end, st));
  co_await scope.join();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "http_load: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--unix") o.unix_path = next();
    else if (a == "--tcp") { std::string hp = next(); auto c = hp.rfind(':'); o.tcp_host = hp.substr(0, c); o.tcp_port = std::stoi(hp.substr(c + 1)); }
    else if (a == "--path") o.path = next();
    else if (a == "--connections" || a == "-c") o.connections = std::stoi(next());
    else if (a == "--seconds" || a == "-d") o.seconds = std::stod(next());
    else if (a == "--json") o.json = true;
    else {
      std::fprintf(stderr, "usage: http_load (--unix PATH | --tcp HOST:PORT) [--path /_ping] [-c N] [-d SECONDS] [--json]\n");
      return 2;
    }
  }
  Stats st;
  try {
    rt::Loop loop({.entries = 4096, .workers = 1});
    loop.run(run_all(o, st));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_load: %s\n", e.what());
    return 1;
  }
  std::sort(st.latencies_us.begin(), st.latencies_us.end());
  auto pct = [&](double p) {
    if (st.latencies_us.empty()) return 0.0;
    size_t idx = std::min(st.latencies_us.size() - 1, static_cast<size_t>(p * static_cast<double>(st.latencies_us.size())));
    return st.latencies_us[idx];
  };
  double rps = static_cast<double>(st.requests) / o.seconds;
  if (o.json) {
    std::printf("{\"requests\":%ld,\"errors\":%ld,\"rps\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n", st.requests,
                st.errors, rps, pct(0.5), pct(0.99), st.latencies_us.empty() ? 0.0 : st.latencies_us.back());
  } else {
    std::printf("%ld requests in %.1fs (%ld errors): %.0f req/s, p50 %.1f us, p99 %.1f us\n", st.requests, o.seconds,
                st.errors, rps, pct(0.5), pct(0.99));
  }
  return st.errors > 0 ? 1 : 0;
}
