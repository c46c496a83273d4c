// Docker Engine API client: HTTP/1.1 over one keep-alive socket for requests and streams, sockets
// of their own for hijacked and late answers (attach, exec start, wait). The wire format is in
// http_wire.cpp.
#include "bocker/cli/client.hpp"

#include <cctype>
#include <charconv>
#include <cstring>

#include "http_wire.hpp"

namespace bocker::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The request went out on a kept connection the server had already dropped: nothing of it was
// processed, so it may be sent again on a fresh connection.
struct StaleConnection {};

bool is_reset(const SystemError& e) {
  int err = e.code().value();
  return err == EPIPE || err == ECONNRESET;
}

// Error answers are read whole for their message, up to this much.
constexpr std::size_t kMaxErrorBody = 1 << 20;

}  // namespace

std::string Response::error_message() const {
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      return j["message"].get<std::string>();
    }
    return std::string(trim(body));
  }
  return "HTTP " + std::to_string(status);
}

Client::Client(Host host) : host_(std::move(host)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::pin_api_version(std::string v) {
  api_version_ = std::move(v);
  negotiated_ = true;
}

std::string Client::versioned_path(std::string_view path, bool versioned) const {
  std::string p;
  if (versioned) p = "/v" + api_version_;
  if (path.empty() || path.front() != '/') p += '/';
  p += path;
  return p;
}

void Client::connect() {
  if (!conn_) conn_ = wire::connect_host(host_);
}

void Client::adopt_version(const Headers& headers, long status) {
  if (negotiated_) return;
  auto it = headers.find("api-version");
  if (it != headers.end() && !it->second.empty()) {
    if (compare_api_versions(it->second, kClientApiVersion) < 0) api_version_ = it->second;
    negotiated_ = true;
  } else if (status < 400) {
    negotiated_ = true;  // the server took the version we sent
  }
}

bool Client::retry_with_new_version(const Request& req, const std::string& sent_version, long status,
                                    const std::string& body) {
  if (!req.versioned || status != 400) return false;
  if (!negotiated_) {
    std::string msg = body;
    for (auto& c : msg) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (msg.find("version") == std::string::npos) return false;
    negotiate();
  }
  return api_version_ != sent_version;
}

Response Client::exchange(const Request& req, const ChunkFn* fn, bool by_line, bool& source_started) {
  const int fd = conn_.get();
  const std::string path = versioned_path(req.path, req.versioned);
  std::string head = wire::request_head(req, path, host_, "");
  try {
    if (!req.body_source && req.body.size() <= 64 * 1024) {
      head += req.body;
      wire::send_all(fd, head, host_.uri);
    } else {
      wire::send_all(fd, head, host_.uri);
      if (!req.body_source) wire::send_all(fd, req.body, host_.uri);
    }
  } catch (const SystemError& e) {
    if (is_reset(e)) throw StaleConnection{};
    throw;
  }

  // A streamed body goes out in chunks until the source ends, or until the daemon answers (or
  // hangs up) early: a daemon that refuses the body answers before reading it all, and that
  // answer wins over the send error that would follow.
  bool upload_cut = false;
  if (req.body_source) {
    std::string frame;
    std::string data(64 * 1024, '\0');
    for (;;) {
      if (wire::idle_connection_dead(fd)) {
        upload_cut = true;
        break;
      }
      source_started = true;
      std::size_t n = req.body_source(data.data(), data.size());
      char size_hex[20];
      auto [end, ec] = std::to_chars(size_hex, size_hex + sizeof(size_hex), n, 16);
      (void)ec;
      frame.assign(size_hex, end).append("\r\n").append(data.data(), n).append("\r\n");
      try {
        wire::send_all(fd, frame, host_.uri);
      } catch (const SystemError& e) {
        if (!is_reset(e)) throw;
        upload_cut = true;
        break;
      }
      if (n == 0) break;
    }
  }

  wire::Reader r(fd, host_.uri);
  wire::Head h;
  try {
    h = wire::read_head(r);
  } catch (const wire::PeerClosed&) {
    if (!source_started) throw StaleConnection{};
    throw Error(host_.uri + " closed the connection before answering " + req.method + " " + path);
  } catch (const SystemError& e) {
    if (!source_started && !r.got_any() && is_reset(e)) throw StaleConnection{};
    throw;
  }
  wire::BodyFraming framing = wire::body_framing(h, req.method);
  Response resp;
  resp.status = h.status;
  resp.headers = std::move(h.headers);
  if (req.versioned) adopt_version(resp.headers, resp.status);

  bool complete;
  if (fn == nullptr || resp.status >= 400) {
    complete = wire::read_body(r, framing, [&](std::string_view d) {
      if (resp.body.size() + d.size() > kMaxErrorBody && resp.status >= 400) return false;
      resp.body.append(d);
      return true;
    });
  } else if (!by_line) {
    complete = wire::read_body(r, framing, [&](std::string_view d) { return (*fn)(d); });
  } else {
    std::string partial;
    complete = wire::read_body(r, framing, [&](std::string_view d) {
      partial.append(d);
      std::size_t start = 0;
      for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(partial.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!(*fn)(line)) return false;
      }
      partial.erase(0, start);
      return true;
    });
    if (complete && !partial.empty()) (*fn)(partial);
  }
  bool reusable = complete && !h.close && !upload_cut && resp.status != 101 &&
                  framing.kind != wire::Framing::kUntilEof && r.pending().empty();
  if (!reusable) conn_.reset();
  return resp;
}

Response Client::perform(const Request& req, const ChunkFn* fn, bool by_line) {
  if (req.body_source && req.versioned && !negotiated_) negotiate();  // not repeatable
  for (int attempt = 0;; ++attempt) {
    bool reused = conn_.valid();
    if (reused && wire::idle_connection_dead(conn_.get())) {
      conn_.reset();
      reused = false;
    }
    connect();
    std::string sent_version = api_version_;
    bool source_started = false;
    Response resp;
    try {
      resp = exchange(req, fn, by_line, source_started);
    } catch (const StaleConnection&) {
      conn_.reset();
      if (reused && attempt == 0) continue;  // the daemon had dropped the kept connection
      throw Error(host_.uri + " closed the connection before answering " + req.method + " " +
                  versioned_path(req.path, req.versioned));
    } catch (...) {
      conn_.reset();  // the connection is in an unknown state
      throw;
    }
    if (attempt < 2 && retry_with_new_version(req, sent_version, resp.status, resp.body)) {
      attempt = 1;  // at most one repeat for the version
      continue;
    }
    return resp;
  }
}

Response Client::ping() {
  Request req{.method = "HEAD", .path = "/_ping", .versioned = false};
  Response r = perform(req, nullptr, false);
  if (r.status != 200 && r.status != 500) {
    req.method = "GET";
    r = perform(req, nullptr, false);
  }
  return r;
}

void Client::negotiate() {
  Response r = ping();
  auto it = r.headers.find("api-version");
  std::string server =
      it != r.headers.end() && !it->second.empty() ? it->second : std::string(kFallbackApiVersion);
  api_version_ =
      compare_api_versions(server, kClientApiVersion) < 0 ? server : std::string(kClientApiVersion);
  negotiated_ = true;
}

Response Client::send(const Request& req) { return perform(req, nullptr, false); }

Response Client::get(std::string_view path) {
  return send(Request{.method = "GET", .path = std::string(path)});
}

Response Client::post(std::string_view path, std::string body, std::string content_type) {
  return send(Request{.method = "POST",
                      .path = std::string(path),
                      .body = std::move(body),
                      .content_type = std::move(content_type)});
}

Response Client::del(std::string_view path) {
  return send(Request{.method = "DELETE", .path = std::string(path)});
}

namespace {
nlohmann::json json_or_throw(const Response& r, std::string_view what) {
  if (r.status >= 400) throw DaemonError(r.status, r.error_message());
  if (r.body.empty()) return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) throw Error("invalid JSON in the daemon's answer to " + std::string(what));
  return j;
}
}  // namespace

nlohmann::json Client::get_json(std::string_view path) { return json_or_throw(get(path), path); }

nlohmann::json Client::post_json(std::string_view path, const nlohmann::json& body) {
  return json_or_throw(post(path, body.is_null() ? std::string() : body.dump()), path);
}

long Client::stream(const Request& req, const ChunkFn& fn, bool by_line) {
  Response r = perform(req, &fn, by_line);
  if (r.status >= 400) throw DaemonError(r.status, r.error_message());
  return r.status;
}

Hijacked Client::hijack(const Request& req) { return finish_raw(send_raw(req, true)); }

Hijacked Client::open_stream(const Request& req) { return finish_raw(send_raw(req, false)); }

Client::PendingRaw Client::send_raw(const Request& req, bool upgrade) {
  if (req.body_source) throw invalid("a hijacked request takes no streamed body: " + req.path);
  std::string head =
      wire::request_head(req, versioned_path(req.path, req.versioned), host_, upgrade ? "Upgrade" : "close");
  head += req.body;
  PendingRaw p{.req = req, .upgrade = upgrade, .sent_version = api_version_};
  // An idle kept connection becomes this request's own (it is never reused after a hijack or a
  // "Connection: close" request): no connect, and no connection left open unused.
  if (conn_ && !wire::idle_connection_dead(conn_.get())) {
    p.fd = std::move(conn_);
    p.reused = true;
  }
  conn_.reset();
  if (p.reused) {
    try {
      wire::send_all(p.fd.get(), head, host_.uri);
      return p;
    } catch (const SystemError& e) {
      if (!is_reset(e)) throw;
      p.reused = false;  // the daemon had dropped it: start over on a fresh connection
    }
  }
  p.fd = wire::connect_host(host_);
  wire::send_all(p.fd.get(), head, host_.uri);
  return p;
}

Hijacked Client::finish_raw(PendingRaw p) {
  std::string path = versioned_path(p.req.path, p.req.versioned);
  wire::Reader r(p.fd.get(), host_.uri);
  wire::Head h;
  try {
    h = wire::read_head(r);
  } catch (const wire::PeerClosed&) {
    if (p.reused) return finish_raw(send_raw(p.req, p.upgrade));  // a dropped kept connection
    throw Error(host_.uri + " closed the connection before answering " + p.req.method + " " + path);
  } catch (const SystemError& e) {
    if (p.reused && !r.got_any() && is_reset(e)) return finish_raw(send_raw(p.req, p.upgrade));
    throw;
  }
  if (p.req.versioned) adopt_version(h.headers, h.status);
  if (h.status == 101 || (h.status >= 200 && h.status < 300)) {
    Hijacked out;
    out.status = h.status;
    out.headers = std::move(h.headers);
    out.buffered = r.take_pending();
    out.fd = std::move(p.fd);
    return out;
  }
  // An error answer: its body (framed as usual, else up to EOF) carries the message.
  Response err;
  err.status = h.status;
  try {
    wire::read_body(r, wire::body_framing(h, p.req.method), [&](std::string_view d) {
      err.body.append(d);
      return err.body.size() < kMaxErrorBody;
    });
  } catch (const std::exception&) {
    // A cut-short error body still says what went wrong; keep what arrived.
  }
  if (retry_with_new_version(p.req, p.sent_version, err.status, err.body)) {
    return finish_raw(send_raw(p.req, p.upgrade));
  }
  throw DaemonError(err.status, err.error_message());
}

std::string read_body(Hijacked& h) {
  wire::Reader r(h.fd.get(), "the daemon", std::move(h.buffered));
  h.buffered.clear();
  std::string body;
  wire::read_body(r, wire::body_framing(h.status, h.headers, "POST"), [&](std::string_view d) {
    body.append(d);
    return true;
  });
  return body;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string build_query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    q += q.empty() ? '?' : '&';
    q += url_encode(k) + "=" + url_encode(v);
  }
  return q;
}

int compare_api_versions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    auto take = [](std::string_view& s) {
      long v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc()) {
        s = {};  // not a number: treat the rest as 0
        return v;
      }
      s.remove_prefix(static_cast<size_t>(p - s.data()));
      if (!s.empty() && s.front() == '.') s.remove_prefix(1);
      return v;
    };
    long x = take(a), y = take(b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

}  // namespace bocker::cli
