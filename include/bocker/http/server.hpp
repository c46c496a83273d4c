// HTTP/1.1 server on the io_uring runtime: unix or TCP listener, one task per connection,
// keep-alive and pipelining, buffered or streamed request bodies, Content-Length, chunked
// or close-delimited responses, and connection hijacking for Docker's attach/exec.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bocker/http/parser.hpp"
#include "bocker/http/request.hpp"
#include "bocker/http/response.hpp"
#include "bocker/http/router.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/scope.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::http {

namespace detail {
struct Conn;
}

// The body of a request whose route streams it (RouteOptions::stream_body).
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // The next piece of the body; empty once it has all been read. Throws bocker::Error
  // (kInvalid) for a malformed or cut-short body, kTimeout when the client stalls.
  virtual rt::Task<std::string> read() = 0;
  // Everything left, up to `limit` bytes (more: bocker::Error kInvalid).
  rt::Task<std::string> read_all(std::size_t limit);
};

// A connection taken over by a handler: the socket and what the client sent after the head.
struct Hijacked {
  Fd fd;
  std::string leftover;
};

class ResponseWriter {
 public:
  ResponseWriter(detail::Conn& conn, const Request& req) noexcept : conn_(conn), req_(req) {}
  ResponseWriter(const ResponseWriter&) = delete;
  ResponseWriter& operator=(const ResponseWriter&) = delete;

  // A complete response. Throws bocker::Error when a response was already started.
  rt::Task<void> send(Response r);

  // Starts a streamed response: chunked (default), with a known Content-Length, or
  // close-delimited (the connection closes after end()). A chunked response to an HTTP/1.0
  // client becomes close-delimited. Headers are written at once.
  rt::Task<void> begin_stream(int status, Headers headers, Framing framing = Framing::kChunked,
                              std::uint64_t content_length = 0);
  // Body bytes of a started stream (chunk-encoded when chunked). Ignored for HEAD requests
  // and bodiless statuses. Throws SystemError when the client is gone.
  rt::Task<void> write(std::string_view data);
  rt::Task<void> write_chunk(std::string_view data) { return write(data); }
  // Ends the stream (the last chunk for chunked bodies). Idempotent.
  rt::Task<void> end();

  // Answers with `status` (Docker: 101 "UPGRADED", or 200 for a non-upgrade attach) and
  // hands over the socket: afterwards it is raw both ways and owned by the caller.
  rt::Task<Hijacked> hijack(int status = 101, Headers headers = {}, std::string reason = "UPGRADED");

  bool started() const noexcept { return state_ != State::kIdle; }
  bool finished() const noexcept { return state_ == State::kDone || state_ == State::kHijacked; }
  bool hijacked() const noexcept { return state_ == State::kHijacked; }
  int status() const noexcept { return status_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }

 private:
  enum class State { kIdle, kStreaming, kDone, kHijacked };
  rt::Task<void> send_raw(std::string_view data);
  std::string_view connection_header() const noexcept;

  detail::Conn& conn_;
  const Request& req_;
  State state_ = State::kIdle;
  Framing framing_ = Framing::kContentLength;
  std::uint64_t content_length_ = 0;
  std::uint64_t body_bytes_ = 0;
  bool suppress_body_ = false;
  int status_ = 0;
};

// One finished request, for metrics.
struct RequestStats {
  std::string_view route;  // matched pattern; empty when no route matched
  std::string_view method;
  int status = 0;  // 0 when the connection broke before a response
  std::chrono::nanoseconds duration{};
};
using StatsHook = std::function<void(const RequestStats&)>;

struct ServerOptions {
  // "unix:///run/bocker.sock" (also a bare absolute path) or "tcp://127.0.0.1:2375"
  // (port 0 picks a free port; see Server::port()).
  std::string listen = "unix:///run/bocker.sock";
  mode_t socket_mode = 0660;
  std::string server_name = "bocker";  // the Server header; empty: none
  ParserLimits limits;
  // From the first byte of a request to its complete head; then 408 and close.
  std::chrono::milliseconds header_timeout{60'000};
  // Waiting for the next request on a kept-alive connection; then close.
  std::chrono::milliseconds idle_timeout{120'000};
  // The longest pause between body bytes.
  std::chrono::milliseconds body_timeout{60'000};
  std::size_t read_chunk = 64 * 1024;
  int backlog = 512;
  StatsHook on_request;
  // Diagnostics: malformed requests, handler failures. Default: none.
  std::function<void(std::string_view)> log;
};

class Server {
 public:
  Server(ServerOptions opts, Handler handler, RequestParser::StreamDecider stream_body = {});
  Server(ServerOptions opts, Router router);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Binds and listens. Throws SystemError naming the address (or bocker::Error for a bad one).
  // A stale unix socket is replaced; a live one (a daemon answers) is an error.
  void listen();
  // Accepts until stop(); then cancels every connection and returns once all have ended.
  // Calls listen() first when needed.
  rt::Task<void> serve();
  // Stops accepting and cancels the connections. Call on the loop thread.
  void stop() noexcept;

  std::uint16_t port() const noexcept { return port_; }
  const ServerOptions& options() const noexcept { return opts_; }
  std::size_t connections() const noexcept { return conns_.size(); }
  int listen_fd() const noexcept { return listen_fd_.get(); }

 private:
  friend struct detail::Conn;
  friend class ResponseWriter;
  rt::Task<void> accept_loop();
  rt::Task<void> serve_conn(Fd fd, std::string peer);
  void log(std::string_view msg) const;

  ServerOptions opts_;
  std::unique_ptr<Router> router_;
  Handler handler_;
  RequestParser::StreamDecider stream_body_;
  Fd listen_fd_;
  std::string unix_path_;
  std::uint16_t port_ = 0;
  rt::TaskScope conns_;
  rt::CancelScope* accept_scope_ = nullptr;
  bool stopping_ = false;
};

// Maps an exception from a handler to an error response (bocker::Error kinds -> 400, 404,
// 409, 501, 504, 500; anything else 500), Docker-style {"message": ...}.
Response error_response(std::exception_ptr e);

}  // namespace bocker::http
