#include "bocker/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "conn.hpp"

namespace bocker::http {

namespace {
using Clock = std::chrono::steady_clock;

struct ListenAddress {
  bool is_unix = false;
  std::string path;  // unix
  sockaddr_storage addr{};
  socklen_t len = 0;
};

ListenAddress parse_listen(const std::string& spec) {
  ListenAddress a;
  std::string_view s = spec;
  if (s.rfind("unix://", 0) == 0 || s.rfind("/", 0) == 0) {
    a.is_unix = true;
    a.path = std::string(s.rfind("unix://", 0) == 0 ? s.substr(7) : s);
    if (a.path.empty() || a.path.front() != '/')
      throw invalid("listen address \"" + spec + "\": unix socket path must be absolute");
    if (a.path.size() >= sizeof(sockaddr_un::sun_path))
      throw invalid("listen address \"" + spec + "\": unix socket path too long");
    return a;
  }
  if (s.rfind("tcp://", 0) != 0)
    throw invalid("listen address \"" + spec + "\": want unix:///path or tcp://host:port");
  s.remove_prefix(6);
  std::string host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      throw invalid("listen address \"" + spec + "\": bad IPv6 form, want tcp://[addr]:port");
    }
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) throw invalid("listen address \"" + spec + "\": missing port");
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  unsigned long p = 0;
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
      (p = std::stoul(std::string(port))) > 65535) {
    throw invalid("listen address \"" + spec + "\": bad port \"" + std::string(port) + "\"");
  }
  if (host.empty() || host == "localhost") host = host.empty() ? "0.0.0.0" : "127.0.0.1";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(p));
    a.len = sizeof(sockaddr_in6);
  } else {
    throw invalid("listen address \"" + spec + "\": host must be a numeric IP address or localhost");
  }
  return a;
}

// A unix socket path that exists: replace it when stale, refuse when a server answers on it
// or when it is not a socket at all.
void clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw SystemError(errno, "stat", path);
  }
  if (!S_ISSOCK(st.st_mode)) throw conflict("listen on " + path + ": path exists and is not a socket");
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) throw SystemError(errno, "socket for probing", path);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) {
    throw conflict("listen on " + path + ": another server is listening there");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "unlink stale socket", path);
}

std::string peer_name(const sockaddr_storage& ss, socklen_t len) {
  char buf[INET6_ADDRSTRLEN + 8] = {};
  if (len == 0 || ss.ss_family == AF_UNIX) return "unix peer";
  if (ss.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  return "peer";
}
}  // namespace

Response error_response(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    int status = 500;
    switch (err.kind()) {
      case Error::Kind::kInvalid:
        status = 400;
        break;
      case Error::Kind::kNotFound:
        status = 404;
        break;
      case Error::Kind::kConflict:
        status = 409;
        break;
      case Error::Kind::kUnsupported:
        status = 501;
        break;
      case Error::Kind::kTimeout:
        status = 504;
        break;
      case Error::Kind::kCancelled:
        status = 503;
        break;
      case Error::Kind::kInternal:
        status = 500;
        break;
    }
    return Response::error(status, err.what());
  } catch (const std::exception& ex) {
    return Response::error(500, ex.what());
  } catch (...) {
    return Response::error(500, "internal error");
  }
}

Server::Server(ServerOptions opts, Handler handler, RequestParser::StreamDecider stream_body)
    : opts_(std::move(opts)), handler_(std::move(handler)), stream_body_(std::move(stream_body)) {}

Server::Server(ServerOptions opts, Router router)
    : opts_(std::move(opts)), router_(std::make_unique<Router>(std::move(router))) {
  Router* r = router_.get();
  handler_ = [r](Request& req, ResponseWriter& w) { return r->dispatch(req, w); };
  stream_body_ = [r](Request& req) { return r->streams_body(req); };
}

Server::~Server() {
  if (!unix_path_.empty() && listen_fd_) ::unlink(unix_path_.c_str());
}

void Server::log(std::string_view msg) const {
  if (opts_.log) opts_.log(msg);
}

void Server::listen() {
  ListenAddress a = parse_listen(opts_.listen);
  if (a.is_unix) {
    clear_stale_socket(a.path);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError(errno, "socket", opts_.listen);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, a.path.c_str(), a.path.size() + 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0)
      throw SystemError(errno, "bind", a.path);
    unix_path_ = a.path;
    listen_fd_ = std::move(fd);
    if (::chmod(a.path.c_str(), opts_.socket_mode) != 0) throw SystemError(errno, "chmod", a.path);
  } else {
    Fd fd(::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError(errno, "socket", opts_.listen);
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      throw SystemError(errno, "setsockopt SO_REUSEADDR", opts_.listen);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a.addr), a.len) != 0)
      throw SystemError(errno, "bind", opts_.listen);
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen) != 0) {
      throw SystemError(errno, "getsockname", opts_.listen);
    }
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    listen_fd_ = std::move(fd);
  }
  if (::listen(listen_fd_.get(), opts_.backlog) != 0) throw SystemError(errno, "listen", opts_.listen);
}

rt::Task<void> Server::serve() {
  if (!listen_fd_) listen();
  rt::CancelScope* parent = co_await rt::this_scope();
  rt::CancelScope accept_scope(parent);
  accept_scope_ = &accept_scope;
  if (stopping_) accept_scope.cancel();
  std::exception_ptr err;
  try {
    co_await accept_loop().in(accept_scope);
  } catch (...) {
    err = std::current_exception();
  }
  accept_scope_ = nullptr;
  co_await conns_.close();
  if (!unix_path_.empty()) {
    ::unlink(unix_path_.c_str());
    unix_path_.clear();
  }
  listen_fd_.reset();
  if (err) std::rethrow_exception(err);
}

void Server::stop() noexcept {
  stopping_ = true;
  if (accept_scope_ != nullptr) accept_scope_->cancel();
  conns_.cancel();
}

rt::Task<void> Server::accept_loop() {
  while (!stopping_) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = co_await rt::accept(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd >= 0) {
      Fd conn(fd);
      if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        int one = 1;
        (void)::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      conns_.spawn(serve_conn(std::move(conn), peer_name(ss, len)));
      continue;
    }
    if (fd == -ECANCELED || stopping_) break;
    if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
      log("accept on " + opts_.listen + ": " + errno_text(-fd) + "; pausing");
      co_await rt::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (fd == -ECONNABORTED || fd == -EINTR || fd == -EAGAIN || fd == -EPROTO) continue;
    throw SystemError(-fd, "accept on", opts_.listen);
  }
}

}  // namespace bocker::http
