// One server connection (private to the http module).
#pragma once

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "bocker/http/parser.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::http::detail {

using Clock = std::chrono::steady_clock;

struct Conn {
  Conn(Server& s, Fd f, std::string p)
      : server(s), fd(std::move(f)), peer(std::move(p)), parser(s.options().limits) {}

  Server& server;
  Fd fd;
  std::string peer;
  // Received bytes: [off, len) not parsed yet. A plain buffer (no zero-fill on growth),
  // allocated on the first read and grown only when a head or body piece does not fit.
  std::unique_ptr<char[]> buf;
  std::size_t cap = 0;
  std::size_t len = 0;
  std::size_t off = 0;
  RequestParser parser;
  bool close_after = false;  // the response needs the connection closed (close-delimited, broken framing)

  std::string_view pending() const noexcept { return {buf.get() + off, len - off}; }
  void consume(std::size_t n) noexcept {
    off += n;
    if (off >= len) clear();
  }
  void clear() noexcept { len = off = 0; }
  // Receives more bytes before `deadline`: the count, 0 at EOF, -errno, -ETIMEDOUT.
  rt::Task<int> fill(Clock::time_point deadline);
  // Sends everything or throws SystemError.
  rt::Task<void> send_all(std::string_view data);
  // Serves one request; false when the connection must close.
  rt::Task<bool> serve_one();

 private:
  rt::Task<void> fail_request(int status, std::string message, const std::string& method,
                              Clock::time_point start);
  rt::Task<void> linger_close();
  void report(std::string_view route, std::string_view method, int status, Clock::time_point start) const;
};

class ConnBody final : public BodyStream {
 public:
  explicit ConnBody(Conn& c) noexcept : c_(c) {}
  rt::Task<std::string> read() override;

 private:
  Conn& c_;
};

}  // namespace bocker::http::detail
