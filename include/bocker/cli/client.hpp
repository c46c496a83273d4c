// A blocking Docker Engine API client for the short-lived CLI: HTTP/1.1 of its own on plain sockets
// (unix or tcp, no TLS), one keep-alive connection reused for consecutive requests.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bocker/cli/host.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::cli {

// The newest API version this client speaks; negotiation lowers it to the server's.
inline constexpr std::string_view kClientApiVersion = "1.47";
// What docker assumes when the server sends no Api-Version header.
inline constexpr std::string_view kFallbackApiVersion = "1.24";

// No daemon answered: connecting to the socket failed. `err` is the connect errno
// (ENOENT, ECONNREFUSED, ETIMEDOUT, ...), or 0 when a tcp host name did not resolve.
class ConnectError : public Error {
 public:
  ConnectError(int err, const std::string& msg) : Error(Kind::kUnsupported, msg), err_(err) {}
  int err() const noexcept { return err_; }

 private:
  int err_;
};

// The daemon answered with an error status; `what()` is the daemon's message.
class DaemonError : public Error {
 public:
  DaemonError(long status, const std::string& message) : Error(kind_for(status), message), status_(status) {}
  long status() const noexcept { return status_; }

 private:
  static Kind kind_for(long status) {
    if (status == 404) return Kind::kNotFound;
    if (status == 409) return Kind::kConflict;
    if (status == 400) return Kind::kInvalid;
    return Kind::kInternal;
  }
  long status_;
};

// Header names are stored lower-cased.
using Headers = std::map<std::string, std::string>;

struct Response {
  long status = 0;
  Headers headers;
  std::string body;

  bool ok() const noexcept { return status >= 200 && status < 300; }
  // The "message" of a JSON error body, else the body itself, else "HTTP <status>".
  std::string error_message() const;
};

struct Request {
  std::string method = "GET";
  std::string path;  // "/containers/json?all=1"; the client prefixes "/v<api>" unless !versioned
  std::string body;
  std::string content_type;  // set when body is non-empty; defaults to application/json
  std::vector<std::pair<std::string, std::string>> headers;
  bool versioned = true;
  // A streamed request body (POST/PUT, sent with "Transfer-Encoding: chunked") instead of `body`:
  // called for up to `max` bytes into `buf`, returns how many it wrote, 0 at the end. An exception
  // it throws aborts the transfer and is rethrown by send()/stream().
  std::function<std::size_t(char* buf, std::size_t max)> body_source;
};

// A hijacked connection (attach, exec start): the socket after the 101/200 head, raw both ways.
struct Hijacked {
  Fd fd;
  long status = 0;
  Headers headers;
  std::string buffered;  // bytes read past the head; consume these before reading fd
};

// Called with each piece of a streamed body. Return false to stop the transfer early.
using ChunkFn = std::function<bool(std::string_view)>;

class Client {
 public:
  explicit Client(Host host);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const Host& host() const noexcept { return host_; }
  // The API version in use ("1.47" until negotiated or pinned).
  const std::string& api_version() const noexcept { return api_version_; }
  bool negotiated() const noexcept { return negotiated_; }
  // Fixes the version and skips negotiation.
  void pin_api_version(std::string v);

  // Opens the keep-alive connection now (a no-op when one is open). Throws ConnectError with the
  // connect errno when nothing listens.
  void connect();

  // HEAD /_ping (GET when HEAD fails). Throws ConnectError when nothing listens.
  Response ping();
  // Pings and sets the API version to min(kClientApiVersion, server's Api-Version).
  // Throws ConnectError.
  //
  // Without an explicit negotiate() there is no separate ping: the first versioned request goes
  // out as /v<kClientApiVersion>/..., and its answer settles the version: an Api-Version header
  // (which docker sends on every answer) lowers it to the server's; a success without one keeps
  // it. A 400 to that first request that names the version (an older server refusing a newer
  // client) makes the client ping, and repeat the request once with the server's version. A
  // request with a body_source is not repeatable and negotiates first.
  void negotiate();

  // One request, whole body buffered. Any HTTP status is returned, not thrown.
  Response send(const Request& req);
  Response get(std::string_view path);
  Response post(std::string_view path, std::string body = {}, std::string content_type = {});
  Response del(std::string_view path);

  // JSON helpers: throw DaemonError for a status >= 400; an empty body yields null.
  nlohmann::json get_json(std::string_view path);
  nlohmann::json post_json(std::string_view path, const nlohmann::json& body = nullptr);

  // Streams the body to `fn` as it arrives: whole lines (without '\n') when `by_line`, else raw
  // chunks. Error statuses (>= 400) are buffered and thrown as DaemonError. Returns the status.
  long stream(const Request& req, const ChunkFn& fn, bool by_line = true);

  // Sends `req` with "Connection: Upgrade" / "Upgrade: tcp" and reads the response head. On 101 or
  // 200 returns the socket, which is the request's own (an idle kept connection is handed over,
  // else a new one is opened); otherwise throws DaemonError.
  Hijacked hijack(const Request& req);

  // Sends `req` ("Connection: close", on a connection of its own as for hijack()) and returns once the
  // response head arrived (2xx), the body left to read with read_body(): for answers that come late, like
  // POST /containers/{id}/wait, whose head must be there before the container starts. Throws
  // DaemonError for an error status.
  Hijacked open_stream(const Request& req);

  // hijack() and open_stream() in two steps, so that several can be in flight at once (run sends
  // attach and wait before reading either answer): send_raw() connects and sends, finish_raw()
  // reads the head (and throws DaemonError for an error status).
  struct PendingRaw {
    Request req;
    bool upgrade = false;
    std::string sent_version;
    Fd fd;
    bool reused = false;  // fd was the kept connection
  };
  PendingRaw send_raw(const Request& req, bool upgrade);
  Hijacked finish_raw(PendingRaw pending);

  // "/v1.47" + path, or path unchanged when !versioned.
  std::string versioned_path(std::string_view path, bool versioned = true) const;

 private:
  Response perform(const Request& req, const ChunkFn* fn, bool by_line);
  Response exchange(const Request& req, const ChunkFn* fn, bool by_line, bool& source_started);
  // Takes the version from the first answer to a versioned request (see negotiate()).
  void adopt_version(const Headers& headers, long status);
  // True when `status`/`body` answer a first request whose version the server refused and a
  // repeat with the version now negotiated makes sense.
  bool retry_with_new_version(const Request& req, const std::string& sent_version, long status,
                              const std::string& body);

  Host host_;
  std::string api_version_{kClientApiVersion};
  bool negotiated_ = false;
  Fd conn_;  // the keep-alive connection, when one is open
};

// The rest of the body of an open_stream() answer (chunked, Content-Length or up to EOF). Throws
// Error when the body is malformed or cut short.
std::string read_body(Hijacked& h);

// Percent-encodes `s` for use in a URL query or path segment.
std::string url_encode(std::string_view s);
// "?k=v&k2=v2" from pairs (values encoded), or "" for none.
std::string build_query(const std::vector<std::pair<std::string, std::string>>& params);
// Compares dotted versions numerically: <0, 0, >0.
int compare_api_versions(std::string_view a, std::string_view b);

}  // namespace bocker::cli
