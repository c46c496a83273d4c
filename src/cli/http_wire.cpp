// The HTTP/1.1 wire layer of the CLI's Engine API client (see http_wire.hpp).
#include "http_wire.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>

#include "bocker/build_info.hpp"

namespace bocker::cli::wire {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value `v` lists `token` (case-insensitively).
bool has_token(std::string_view v, std::string_view token) {
  std::string l = lower(v);
  std::string_view s = l;
  while (!s.empty()) {
    auto comma = s.find(',');
    if (trim(s.substr(0, comma)) == token) return true;
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return false;
}

ConnectError connect_error(const Host& host, int err) {
  return ConnectError(err, "connect to " + host.uri + ": " + errno_text(err));
}

Fd connect_unix(const Host& host) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (host.path.size() >= sizeof(addr.sun_path)) throw invalid("socket path too long: " + host.path);
  std::memcpy(addr.sun_path, host.path.c_str(), host.path.size() + 1);
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw SystemError(errno, "socket(AF_UNIX) for", host.uri);
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    if (errno != EINTR) throw connect_error(host, errno);
  }
  return fd;
}

// A non-blocking connect bounded by kConnectTimeoutMs; the socket is blocking again afterwards.
int connect_tcp_one(const addrinfo* ai, Fd& out) {
  Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
  if (!fd) return errno;
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) < 0) {
    if (errno != EINPROGRESS) return errno;
    pollfd p{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    int rc;
    while ((rc = ::poll(&p, 1, kConnectTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (rc < 0) return errno;
    if (rc == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    if (err != 0) return err;
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return errno;
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // best effort
  out = std::move(fd);
  return 0;
}

Fd connect_tcp(const Host& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(host.port);
  int rc = ::getaddrinfo(host.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    throw ConnectError(rc == EAI_SYSTEM ? errno : 0, "resolve " + host.uri + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  int last = ECONNREFUSED;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Fd fd;
    last = connect_tcp_one(ai, fd);
    if (last == 0) return fd;
  }
  throw connect_error(host, last);
}

// A header name or value, or the request target, must not smuggle in line breaks.
void check_field(std::string_view s, std::string_view what) {
  if (s.find_first_of("\r\n", 0) != std::string_view::npos || s.find('\0') != std::string_view::npos) {
    throw invalid("HTTP " + std::string(what) +
                  " contains a line break or NUL: " + std::string(s.substr(0, 80)));
  }
}

std::uint64_t parse_length(std::string_view v, const std::string& where) {
  v = trim(v);
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    throw Error("bad Content-Length \"" + std::string(v.substr(0, 40)) + "\" from " + where);
  }
  return n;
}

// One CRLF-terminated line (without the CRLF) of at most `limit` bytes.
std::string read_line(Reader& r, std::size_t limit, std::string_view what) {
  for (;;) {
    std::string_view p = r.pending();
    auto eol = p.find("\r\n");
    if (eol != std::string_view::npos && eol <= limit) {
      std::string line(p.substr(0, eol));
      r.consume(eol + 2);
      return line;
    }
    if (p.size() > limit) {
      throw Error(std::string(what) + " from " + r.where() + " exceeds " + std::to_string(limit) + " bytes");
    }
    if (!r.fill()) {
      throw Error(r.where() + " closed the connection in the middle of a chunked body (" + std::string(what) +
                  ")");
    }
  }
}

// Hands exactly `n` bytes to `sink`; false when it said stop.
bool deliver(Reader& r, std::uint64_t n, std::uint64_t total,
             const std::function<bool(std::string_view)>& sink) {
  while (n > 0) {
    if (r.pending().empty() && !r.fill()) {
      throw Error(r.where() + " closed the connection " + std::to_string(total - n) + " bytes into a " +
                  std::to_string(total) + "-byte body");
    }
    std::string_view p = r.pending();
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, p.size()));
    bool more = sink(p.substr(0, take));
    r.consume(take);
    n -= take;
    if (!more) return false;
  }
  return true;
}

}  // namespace

Fd connect_host(const Host& host) { return host.is_unix() ? connect_unix(host) : connect_tcp(host); }

bool idle_connection_dead(int fd) {
  pollfd p{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  int rc = ::poll(&p, 1, 0);
  return rc != 0;  // readable (EOF or unasked-for bytes), hung up, or poll itself failed
}

bool Reader::fill() {
  if (pos_ > 0 && (pos_ == buf_.size() || pos_ > 64 * 1024)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "read response from", where_);
    if (n == 0) return false;
    got_any_ = true;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
}

void Reader::consume(std::size_t n) noexcept {
  pos_ += std::min(n, buf_.size() - pos_);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
}

std::string Reader::take_pending() {
  std::string out = buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  return out;
}

void send_all(int fd, std::string_view data, const std::string& where) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "send request to", where);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string request_head(const Request& req, std::string_view path, const Host& host,
                         std::string_view connection) {
  check_field(req.method, "method");
  check_field(path, "request target");
  if (req.method.empty() || req.method.find(' ') != std::string::npos) {
    throw invalid("bad HTTP method \"" + req.method + "\"");
  }
  std::string h;
  h.reserve(256 + path.size() + req.content_type.size());
  h.append(req.method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
  if (host.is_unix()) {
    h += "localhost";
  } else if (host.host.find(':') != std::string::npos) {
    h += "[" + host.host + "]:" + std::to_string(host.port);
  } else {
    h += host.host + ":" + std::to_string(host.port);
  }
  h.append("\r\nUser-Agent: bocker-cli/").append(build::kVersion).append("\r\n");
  if (connection == "Upgrade") {
    h += "Connection: Upgrade\r\nUpgrade: tcp\r\n";
  } else if (!connection.empty()) {
    h.append("Connection: ").append(connection).append("\r\n");
  }
  bool has_body =
      static_cast<bool>(req.body_source) || !req.body.empty() || req.method == "POST" || req.method == "PUT";
  if (has_body) {
    check_field(req.content_type, "Content-Type");
    h.append("Content-Type: ")
        .append(req.content_type.empty() ? std::string_view("application/json") : req.content_type)
        .append("\r\n");
    if (req.body_source) {
      h += "Transfer-Encoding: chunked\r\n";
    } else {
      h += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
    }
  }
  for (const auto& [k, v] : req.headers) {
    check_field(k, "header name");
    check_field(v, "header value");
    if (k.empty() || k.find(':') != std::string::npos) throw invalid("bad HTTP header name \"" + k + "\"");
    h.append(k).append(": ").append(v).append("\r\n");
  }
  h += "\r\n";
  return h;
}

Head read_head(Reader& r) {
  for (;;) {
    std::size_t end;
    for (;;) {
      std::string_view p = r.pending();
      end = p.find("\r\n\r\n");
      if (end != std::string_view::npos && end + 4 <= kMaxHead) break;
      if (p.size() > kMaxHead) {
        throw Error("response head from " + r.where() + " exceeds " + std::to_string(kMaxHead / 1024) +
                    " KiB");
      }
      if (!r.fill()) {
        if (!r.got_any()) throw PeerClosed(r.where() + " closed the connection before answering");
        throw Error(r.where() + " closed the connection in the middle of the response head");
      }
    }
    std::string_view text = r.pending().substr(0, end);
    Head h;
    auto eol = text.find("\r\n");
    std::string_view status_line = text.substr(0, eol);
    // "HTTP/1.1 200 OK"
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") ||
        !std::isdigit(static_cast<unsigned char>(status_line[7])) || status_line[8] != ' ') {
      throw Error("malformed status line from " + r.where() + ": \"" +
                  std::string(status_line.substr(0, 80)) + "\"");
    }
    h.minor = status_line[7] - '0';
    std::string_view code = status_line.substr(9, 3);
    auto [p, ec] = std::from_chars(code.data(), code.data() + code.size(), h.status);
    if (ec != std::errc() || p != code.data() + 3 || h.status < 100 || h.status > 999 ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
      throw Error("malformed status line from " + r.where() + ": \"" +
                  std::string(status_line.substr(0, 80)) + "\"");
    }
    for (std::size_t pos = eol == std::string_view::npos ? text.size() : eol + 2; pos < text.size();) {
      std::size_t e = text.find("\r\n", pos);
      if (e == std::string_view::npos) e = text.size();
      std::string_view line = text.substr(pos, e - pos);
      pos = e + 2;
      auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' || line.front() == '\t') {
        throw Error("malformed header line from " + r.where() + ": \"" + std::string(line.substr(0, 80)) +
                    "\"");
      }
      h.headers[lower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
    }
    r.consume(end + 4);
    if (h.status >= 100 && h.status < 200 && h.status != 101) continue;  // 100 Continue and friends
    auto conn = h.headers.find("connection");
    if (h.minor == 0) {
      h.close = conn == h.headers.end() || !has_token(conn->second, "keep-alive");
    } else {
      h.close = conn != h.headers.end() && has_token(conn->second, "close");
    }
    return h;
  }
}

BodyFraming body_framing(long status, const Headers& headers, std::string_view method) {
  if (method == "HEAD" || (status >= 100 && status < 200) || status == 204 || status == 304) return {};
  if (auto te = headers.find("transfer-encoding"); te != headers.end()) {
    std::string v = lower(te->second);
    auto comma = v.rfind(',');
    std::string_view last =
        trim(comma == std::string::npos ? std::string_view(v) : std::string_view(v).substr(comma + 1));
    return {last == "chunked" ? Framing::kChunked : Framing::kUntilEof, 0};
  }
  if (auto cl = headers.find("content-length"); cl != headers.end()) {
    return {Framing::kLength, parse_length(cl->second, "the daemon")};
  }
  return {Framing::kUntilEof, 0};
}

BodyFraming body_framing(const Head& head, std::string_view method) {
  return body_framing(head.status, head.headers, method);
}

bool read_body(Reader& r, const BodyFraming& f, const std::function<bool(std::string_view)>& sink) {
  switch (f.kind) {
    case Framing::kNone:
      return true;
    case Framing::kLength:
      return deliver(r, f.length, f.length, sink);
    case Framing::kUntilEof:
      for (;;) {
        if (!r.pending().empty()) {
          std::string_view p = r.pending();
          bool more = sink(p);
          r.consume(p.size());
          if (!more) return false;
        }
        if (!r.fill()) return true;
      }
    case Framing::kChunked:
      for (;;) {
        std::string line = read_line(r, kMaxChunkLine, "chunk size line");
        std::string_view size_text = trim(std::string_view(line).substr(0, line.find(';')));
        std::uint64_t size = 0;
        auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
        if (size_text.empty() || ec != std::errc() || p != size_text.data() + size_text.size()) {
          throw Error("malformed chunk size \"" + line.substr(0, 40) + "\" from " + r.where());
        }
        if (size == 0) {
          std::size_t trailer = 0;
          for (;;) {
            std::string t = read_line(r, kMaxHead, "chunked trailer");
            if (t.empty()) return true;
            trailer += t.size() + 2;
            if (trailer > kMaxHead) throw Error("chunked trailer from " + r.where() + " exceeds 64 KiB");
          }
        }
        if (!deliver(r, size, size, sink)) return false;
        if (!read_line(r, 2, "chunk end").empty()) {
          throw Error("malformed chunked body from " + r.where() + ": no CRLF after a chunk");
        }
      }
  }
  return true;
}

}  // namespace bocker::cli::wire
