// libcurl's multi interface on the io_uring runtime. CurlLoop maps every socket curl wants
// watched onto an io_uring POLL (one watcher per socket, re-armed after each readiness, cancelled
// when curl removes the socket) and curl's single timeout onto one runtime timer; readiness calls
// curl_multi_socket_action and completed transfers resume their awaiting coroutine. Everything runs
// on the loop thread: no threads of ours do I/O (curl's own resolver thread aside).
//
// http_fetch() builds on it: one HTTP exchange with TLS verification (system CAs or a CA file),
// HTTP/2 when the server offers it over TLS, connection reuse through the multi handle's pool,
// a low-speed limit, optional redirects, and a body sink fed as bytes arrive.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bocker/runtime/task.hpp"

namespace bocker::registry {

// curl_global_init once per process; CurlLoop calls it.
void curl_global_once();

namespace detail {
struct CurlCore;
}

class CurlLoop {
 public:
  // Must be created and used on a thread that runs an rt::Loop.
  CurlLoop();
  CurlLoop(const CurlLoop&) = delete;
  CurlLoop& operator=(const CurlLoop&) = delete;
  // Cancels every socket watcher and the timer (they finish on their own CQEs). Transfers still
  // in flight are removed and their awaiters resume with CURLE_ABORTED_BY_CALLBACK.
  ~CurlLoop();

  // Ends every transfer (awaiters get CURLE_ABORTED_BY_CALLBACK), cancels the watchers and the
  // timer and waits until their operations are back from the kernel. Call it before the loop
  // stops; later perform() calls throw Error(kCancelled).
  rt::Task<void> close();

  // Runs `easy` to completion and returns curl's result for it. perform() owns CURLOPT_PRIVATE
  // of the handle while it runs. When the awaiting scope is cancelled the handle is removed from
  // the multi handle and bocker::Error(kCancelled) is thrown.
  rt::Task<CURLcode> perform(CURL* easy);

  // Transfers added and not yet finished; sockets being watched (for tests and metrics).
  std::size_t active_transfers() const noexcept;
  std::size_t watched_sockets() const noexcept;
  CURLM* multi() const noexcept;

 private:
  std::shared_ptr<detail::CurlCore> core_;
};

// Receives body bytes on the loop thread as they arrive; it must be cheap (hash, inflate into a
// buffer, hand off). An exception thrown by the sink aborts the transfer and is rethrown by
// http_fetch().
using BodySink = std::function<void(std::span<const std::byte>)>;

struct HttpResponse;

// Back-pressure for a body sink. pause() (from the sink or its consumer, on the loop thread)
// makes the next delivery return CURL_WRITEFUNC_PAUSE: curl keeps that chunk and stops reading
// the socket. resume() continues the transfer (curl may hand the held chunk to the sink from
// inside resume()). One FlowControl serves one exchange at a time.
class FlowControl {
 public:
  void pause() noexcept { paused_ = true; }
  void resume();
  bool paused() const noexcept { return paused_; }
  int pauses() const noexcept { return pauses_; }  // deliveries held so far

  // For http_fetch: the transfer being controlled, and the write callback's question.
  void bind(CURL* easy) noexcept {
    easy_ = easy;
    held_ = false;
  }
  bool hold() noexcept;

 private:
  CURL* easy_ = nullptr;
  bool paused_ = false;
  bool held_ = false;
  int pauses_ = 0;
};

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::int64_t range_from = -1;      // >= 0 sends "Range: bytes=<n>-"
  bool follow_redirects = false;     // Authorization is not sent to another host (curl's default)
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle (PEM) instead of the system store
  long connect_timeout_s = 30;
  long low_speed_time_s = 30;              // abort when under 1 byte/s for this long
  std::size_t max_body = 4 * 1024 * 1024;  // bodies kept in memory (no sink, or non-2xx)
  BodySink sink;                           // bodies of 2xx responses go here instead of HttpResponse::body
  // Called once per response before its first body byte reaches `sink` (status and headers are
  // known by then). May throw to abort the transfer.
  std::function<void(const HttpResponse&)> on_body_start;
  FlowControl* flow = nullptr;  // optional back-pressure for `sink`
};

struct HttpResponse {
  CURLcode code = CURLE_OK;
  std::string curl_error;  // curl's error text when code != CURLE_OK
  long status = 0;
  // Headers of the final response, names lowercased, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;             // non-2xx bodies (first 64 KiB) and 2xx bodies without a sink
  std::int64_t sink_bytes = 0;  // bytes handed to the sink
  std::string effective_url;
  long http_version = 0;  // CURL_HTTP_VERSION_* of the final response

  // First value of a header (name in any case), or nullptr.
  const std::string* header(std::string_view name) const;
  std::vector<std::string> header_values(std::string_view name) const;
  bool ok() const noexcept { return code == CURLE_OK && status >= 200 && status < 300; }
};

// One exchange. Transport failures are reported in HttpResponse::code (never thrown); throws
// bocker::Error when the buffered body exceeds max_body, rethrows the sink's exceptions, and
// throws Error(kCancelled) when the awaiting scope is cancelled.
rt::Task<HttpResponse> http_fetch(CurlLoop& loop, const HttpRequest& req);

}  // namespace bocker::registry
