// A tiny HTTP server on a unix socket in a temp dir, answering canned responses from a thread
// with a blocking accept loop. One request per connection ("Connection: close").
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::cli::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// A raw HTTP/1.1 response with Content-Length and Connection: close.
inline std::string http_response(int status, const std::string& body,
                                 const std::vector<std::string>& headers = {},
                                 const std::string& content_type = "application/json") {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  r += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\nConnection: close\r\n\r\n" + body;
  return r;
}

// A temp dir removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bocker-cli-test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw SystemError(errno, "mkdtemp", tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The request line and headers (names lower-cased) of `head` into `req`.
inline void parse_request_head(const std::string& head, FakeRequest& req) {
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  req.method = line.substr(0, sp1);
  req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (size_t pos = eol == std::string::npos ? head.size() : eol + 2; pos < head.size();) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string h = head.substr(pos, e - pos);
    auto colon = h.find(':');
    if (colon != std::string::npos) {
      std::string name = h.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t v = colon + 1;
      while (v < h.size() && h[v] == ' ') ++v;
      req.headers[name] = h.substr(v);
    }
    pos = e + 2;
  }
}

class FakeServer {
 public:
  // Returns the whole raw response; `fd` is the connection, for hijack tests that go on talking.
  using Handler = std::function<std::string(const FakeRequest&, int fd)>;

  FakeServer(std::string socket_path, Handler handler)
      : path_(std::move(socket_path)), handler_(std::move(handler)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    check_sys(listener_.get(), "socket", path_);
    check_sys(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), "bind", path_);
    check_sys(::listen(listener_.get(), 16), "listen", path_);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept() with an error
    thread_.join();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::string uri() const { return "unix://" + path_; }
  std::vector<FakeRequest> requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }

 private:
  void loop() {
    for (;;) {
      int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR) continue;
        return;
      }
      Fd conn(c);
      FakeRequest req;
      if (!read_request(conn.get(), req)) continue;
      {
        std::lock_guard lk(mu_);
        requests_.push_back(req);
      }
      std::string resp = handler_(req, conn.get());
      if (req.method == "HEAD") {  // a HEAD answer has headers only
        auto end = resp.find("\r\n\r\n");
        if (end != std::string::npos) resp.resize(end + 4);
      }
      for (std::string_view rest = resp; !rest.empty();) {
        ssize_t n = ::send(conn.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        rest.remove_prefix(static_cast<size_t>(n));
      }
    }
  }

  static bool read_request(int fd, FakeRequest& req) {
    std::string buf;
    char tmp[4096];
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    parse_request_head(buf.substr(0, end), req);
    req.body = buf.substr(end + 4);
    size_t want = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) want = std::stoul(it->second);
    while (req.body.size() < want) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      req.body.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }

  std::string path_;
  Handler handler_;
  Fd listener_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<FakeRequest> requests_;
};

}  // namespace bocker::cli::testing
