// Internal: the HTTP/1.1 wire layer under cli::Client, on plain blocking sockets (unix or tcp).
// Connecting, writing a request, reading a response head and decoding a body (Content-Length,
// chunked, or up to EOF). One implementation for the keep-alive requests, the streams and the
// hijacked/open_stream connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bocker/cli/client.hpp"
#include "bocker/cli/host.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::cli::wire {

// A response head larger than this is refused (status line, headers, and a chunked trailer).
inline constexpr std::size_t kMaxHead = 64 * 1024;
// A chunk-size line (size and extensions) larger than this is refused.
inline constexpr std::size_t kMaxChunkLine = 4096;
// How long a tcp connect may take.
inline constexpr int kConnectTimeoutMs = 10'000;

// Opens a blocking stream socket to `host` (TCP_NODELAY for tcp). Throws ConnectError carrying the
// connect errno (ENOENT, ECONNREFUSED, ETIMEDOUT...), naming the host.
Fd connect_host(const Host& host);

// True when a connection kept for reuse can no longer carry a request: the peer closed it or sent
// something unasked for (readable or hung up while idle).
bool idle_connection_dead(int fd);

// The peer closed the connection before sending a single byte of the response head: on a reused
// keep-alive connection this means the server had dropped it, and the request may be repeated.
class PeerClosed : public Error {
 public:
  using Error::Error;
};

// What a connection yielded: reads into a buffer, hands out what the parser has not consumed.
class Reader {
 public:
  Reader(int fd, std::string where, std::string buffered = {})
      : fd_(fd), where_(std::move(where)), buf_(std::move(buffered)) {}

  // Reads more bytes; false at EOF. Throws SystemError("read response from", where).
  bool fill();
  std::string_view pending() const noexcept { return std::string_view(buf_).substr(pos_); }
  void consume(std::size_t n) noexcept;
  // Hands out (and forgets) what was read but not consumed.
  std::string take_pending();
  const std::string& where() const noexcept { return where_; }
  // True once any byte has arrived on this reader.
  bool got_any() const noexcept { return got_any_; }

 private:
  int fd_;
  std::string where_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool got_any_ = false;
};

// Writes all of `data` (MSG_NOSIGNAL). Throws SystemError("send request to", where).
void send_all(int fd, std::string_view data, const std::string& where);

// The request line and headers (ending in the empty line) for `req` sent to `path` on `host`.
// `connection` is "close", "Upgrade" (adds "Upgrade: tcp") or "" for a keep-alive request. The body
// is announced with Content-Length (POST/PUT or a non-empty body) or, for a body_source,
// "Transfer-Encoding: chunked".
std::string request_head(const Request& req, std::string_view path, const Host& host,
                         std::string_view connection);

struct Head {
  long status = 0;
  int minor = 1;  // HTTP/1.<minor>
  Headers headers;
  // The server will close the connection after this answer (Connection: close, or HTTP/1.0
  // without keep-alive).
  bool close = false;
};

// Reads a response head, skipping interim 1xx answers other than 101. Throws PeerClosed when the
// connection ended before any byte, Error naming `r.where()` for a malformed or oversized head or
// one cut short.
Head read_head(Reader& r);

enum class Framing { kNone, kLength, kChunked, kUntilEof };
struct BodyFraming {
  Framing kind = Framing::kNone;
  std::uint64_t length = 0;  // kLength
};
// How the body of a response to `method` with `head` is delimited (RFC 9112 section 6.3).
BodyFraming body_framing(const Head& head, std::string_view method);
BodyFraming body_framing(long status, const Headers& headers, std::string_view method);

// Reads the body framed by `f`, handing decoded pieces to `sink` as they arrive. Returns true when
// the body ended, false when `sink` returned false. Throws Error naming the peer when it is
// malformed or the connection ends early.
bool read_body(Reader& r, const BodyFraming& f, const std::function<bool(std::string_view)>& sink);

}  // namespace bocker::cli::wire
