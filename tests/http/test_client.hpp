// A blocking HTTP/1.1 client for the server tests: the server runs its loop on a thread, the
// test talks to it over a real socket with a receive timeout.
#pragma once

#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "bocker/http/request.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::http::testing {

struct ClientResponse {
  int status = 0;
  Headers headers;
  std::string body;
  bool keep_alive = true;
};

class TestConn {
 public:
  static TestConn unix_socket(const std::string& path) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    check_sys(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), "connect", path);
    return TestConn(std::move(fd));
  }
  static TestConn tcp(std::uint16_t port) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check_sys(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), "connect", "127.0.0.1");
    return TestConn(std::move(fd));
  }

  int fd() const { return fd_.get(); }

  void send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) throw SystemError(errno, "send", "test connection");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Returns false at EOF or on a receive timeout.
  bool recv_more() {
    char tmp[16384];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }
  // True when the server closed the connection (EOF or reset) within the receive timeout.
  bool closed_by_peer() {
    while (buf_.empty()) {
      char tmp[512];
      ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n < 0) return false;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    return false;
  }
  // Reads exactly `n` raw bytes (after any buffered ones).
  std::string read_exact(std::size_t n) {
    while (buf_.size() < n && recv_more()) {
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, out.size());
    return out;
  }
  // Reads until the peer closes.
  std::string read_to_eof() {
    while (recv_more()) {
    }
    return std::exchange(buf_, {});
  }
  std::string_view buffered() const { return buf_; }

  // Reads one response. Throws on EOF or a parse error before it is complete.
  ClientResponse read_response(bool head_request = false) {
    State st;
    st.head = head_request;
    http_parser p;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &st;
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_header_field = [](http_parser* hp, const char* at, std::size_t len) {
      auto* st = static_cast<State*>(hp->data);
      if (st->in_value) {
        st->r.headers.add(std::move(st->field), std::move(st->value));
        st->field.clear();
        st->value.clear();
        st->in_value = false;
      }
      st->field.append(at, len);
      return 0;
    };
    s.on_header_value = [](http_parser* hp, const char* at, std::size_t len) {
      auto* st = static_cast<State*>(hp->data);
      st->in_value = true;
      st->value.append(at, len);
      return 0;
    };
    s.on_headers_complete = [](http_parser* hp) {
      auto* st = static_cast<State*>(hp->data);
      if (st->in_value) st->r.headers.add(std::move(st->field), std::move(st->value));
      st->r.status = static_cast<int>(hp->status_code);
      st->r.keep_alive = http_should_keep_alive(hp) != 0;
      return st->head ? 1 : 0;
    };
    s.on_body = [](http_parser* hp, const char* at, std::size_t len) {
      static_cast<State*>(hp->data)->r.body.append(at, len);
      return 0;
    };
    s.on_message_complete = [](http_parser* hp) {
      static_cast<State*>(hp->data)->done = true;
      http_parser_pause(hp, 1);
      return 0;
    };
    while (true) {
      if (!buf_.empty()) {
        std::size_t used = http_parser_execute(&p, &s, buf_.data(), buf_.size());
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK && HTTP_PARSER_ERRNO(&p) != HPE_PAUSED) {
          throw std::runtime_error(std::string("bad response: ") + http_errno_name(HTTP_PARSER_ERRNO(&p)));
        }
        buf_.erase(0, used);
        if (st.done) return st.r;
      }
      if (!recv_more()) {
        http_parser_execute(&p, &s, nullptr, 0);  // EOF ends a close-delimited body
        if (st.done) return st.r;
        throw std::runtime_error("connection closed before a complete response");
      }
    }
  }

 private:
  struct State {
    ClientResponse r;
    std::string field, value;
    bool in_value = false;
    bool head = false;
    bool done = false;
  };

  explicit TestConn(Fd fd) : fd_(std::move(fd)) {
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  Fd fd_;
  std::string buf_;
};

}  // namespace bocker::http::testing
