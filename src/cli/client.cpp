// Docker Engine API client: libcurl for request/response and streams, a plain socket for hijack.
#include "bocker/cli/client.hpp"

#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <mutex>

#include "bocker/build_info.hpp"

namespace bocker::cli {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Adds one "Name: value" header line to `h`; a status line ("HTTP/...") starts a fresh set,
// so the headers of a 100 Continue never mix with the final ones.
void parse_header_line(std::string_view line, Headers& h, long* status) {
  line = trim(line);
  if (line.empty()) return;
  if (line.starts_with("HTTP/")) {
    h.clear();
    auto sp = line.find(' ');
    if (sp != std::string_view::npos && status != nullptr) {
      long code = 0;
      auto rest = line.substr(sp + 1);
      std::from_chars(rest.data(), rest.data() + rest.size(), code);
      *status = code;
    }
    return;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return;
  h[lower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("curl_global_init failed");
  });
}

struct Slist {
  curl_slist* list = nullptr;
  Slist() = default;
  Slist(const Slist&) = delete;
  Slist& operator=(const Slist&) = delete;
  ~Slist() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* n = curl_slist_append(list, line.c_str());
    if (n == nullptr) throw Error("curl_slist_append: out of memory");
    list = n;
  }
};

// State shared with the libcurl callbacks during one transfer.
struct Transfer {
  Response* resp = nullptr;
  const ChunkFn* fn = nullptr;
  bool by_line = true;
  bool stopped = false;  // fn returned false
  std::string partial;   // by_line: an unfinished line
  const std::function<std::size_t(char*, std::size_t)>* source = nullptr;
  std::exception_ptr source_error;  // what the body source threw
};

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  try {
    return (*t->source)(buf, size * n);
  } catch (...) {
    t->source_error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  parse_header_line(std::string_view(data, size * n), t->resp->headers, &t->resp->status);
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (t->fn == nullptr || t->resp->status >= 400) {
    t->resp->body.append(chunk);
    return chunk.size();
  }
  if (!t->by_line) {
    if (!(*t->fn)(chunk)) {
      t->stopped = true;
      return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
    }
    return chunk.size();
  }
  t->partial.append(chunk);
  size_t start = 0;
  for (size_t nl; (nl = t->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string_view line(t->partial.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!(*t->fn)(line)) {
      t->stopped = true;
      return 0;
    }
  }
  t->partial.erase(0, start);
  return chunk.size();
}

void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "send request to", what);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

Fd connect_socket(const Host& host) {
  if (host.is_unix()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (host.path.size() >= sizeof(addr.sun_path)) throw invalid("socket path too long: " + host.path);
    std::memcpy(addr.sun_path, host.path.c_str(), host.path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError(errno, "socket(AF_UNIX) for", host.uri);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      int err = errno;
      throw ConnectError(err, "connect to " + host.uri + ": " + errno_text(err));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(host.port);
  int rc = ::getaddrinfo(host.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw ConnectError(0, "resolve " + host.uri + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
  int last = ECONNREFUSED;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last = errno;
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    last = errno;
  }
  throw ConnectError(last, "connect to " + host.uri + ": " + errno_text(last));
}

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

struct Client::Curl {
  CURL* h = nullptr;
  Curl() {
    global_init();
    h = curl_easy_init();
    if (h == nullptr) throw Error("curl_easy_init failed");
  }
  ~Curl() { curl_easy_cleanup(h); }
};

Client::Client(Host host) : host_(std::move(host)), curl_(std::make_unique<Curl>()) {}
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

Response Client::perform(const Request& req, const ChunkFn* fn, bool by_line, bool head_only) {
  CURL* h = curl_->h;
  curl_easy_reset(h);
  Response resp;
  Transfer t{&resp, fn, by_line, false, {}, req.body_source ? &req.body_source : nullptr, nullptr};
  std::string path = versioned_path(req.path, req.versioned);
  std::string url = host_.base_url() + path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  Slist hdrs;
  hdrs.add("Expect:");
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    hdrs.add("Content-Type: " +
             (req.content_type.empty() ? std::string("application/json") : req.content_type));
  }
  if (req.body_source) hdrs.add("Transfer-Encoding: chunked");
  for (const auto& [k, v] : req.headers) hdrs.add(k + ": " + v);
  std::string agent = std::string("bocker-cli/") + build::kVersion;

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  if (host_.is_unix()) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, host_.path.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs.list);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  if (head_only || req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.body_source) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method == "POST" || req.method == "PUT" || !req.body.empty()) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(h);
  if (t.source_error) std::rethrow_exception(t.source_error);
  // A daemon that refuses a streamed body answers before reading it all; its answer wins over
  // the send error that follows.
  if (rc != CURLE_OK && req.body_source && resp.status >= 400) return resp;
  if (rc == CURLE_WRITE_ERROR && t.stopped) return resp;
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    long os_errno = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    int err = static_cast<int>(os_errno);
    if (err == 0 && host_.is_unix() && ::access(host_.path.c_str(), F_OK) != 0) err = errno;
    std::string why = err != 0 ? errno_text(err) : (errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc));
    throw ConnectError(err, "connect to " + host_.uri + ": " + why);
  }
  if (rc != CURLE_OK) {
    throw Error(req.method + " " + path + " on " + host_.uri + ": " +
                (errbuf[0] != 0 ? std::string(errbuf) : std::string(curl_easy_strerror(rc))));
  }
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  resp.status = code;
  if (fn != nullptr && by_line && !t.partial.empty() && resp.status < 400) (*fn)(t.partial);
  return resp;
}

Response Client::ping() {
  Request req{.method = "HEAD", .path = "/_ping", .versioned = false};
  Response r = perform(req, nullptr, false, true);
  if (r.status != 200 && r.status != 500) {
    req.method = "GET";
    r = perform(req, nullptr, false, false);
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

void Client::ensure_negotiated(const Request& req) {
  if (req.versioned && !negotiated_) negotiate();
}

Response Client::send(const Request& req) {
  ensure_negotiated(req);
  return perform(req, nullptr, false, false);
}

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
  ensure_negotiated(req);
  Response r = perform(req, &fn, by_line, false);
  if (r.status >= 400) throw DaemonError(r.status, r.error_message());
  return r.status;
}

Hijacked Client::hijack(const Request& req) { return raw_request(req, true); }

Hijacked Client::open_stream(const Request& req) { return raw_request(req, false); }

Hijacked Client::raw_request(const Request& req, bool upgrade) {
  ensure_negotiated(req);
  Hijacked out;
  out.fd = connect_socket(host_);
  std::string path = versioned_path(req.path, req.versioned);
  std::string head = req.method + " " + path + " HTTP/1.1\r\n";
  head += "Host: " + (host_.is_unix() ? std::string("localhost") : host_.host) + "\r\n";
  head += std::string("User-Agent: bocker-cli/") + build::kVersion + "\r\n";
  head += upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n";
  head += "Content-Type: " + (req.content_type.empty() ? std::string("application/json") : req.content_type) +
          "\r\n";
  for (const auto& [k, v] : req.headers) head += k + ": " + v + "\r\n";
  head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n\r\n";
  write_all(out.fd.get(), head + req.body, host_.uri);

  std::string buf;
  size_t end;
  char tmp[4096];
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 64 * 1024) throw Error("response head from " + host_.uri + " exceeds 64 KiB");
    ssize_t n = ::recv(out.fd.get(), tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "read response head from", host_.uri);
    if (n == 0) throw Error("daemon at " + host_.uri + " closed the connection before answering " + path);
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string_view h(buf.data(), end);
  for (size_t pos = 0; pos <= h.size();) {
    size_t eol = h.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = h.size();
    parse_header_line(h.substr(pos, eol - pos), out.headers, &out.status);
    pos = eol + 2;
  }
  out.buffered = buf.substr(end + 4);
  if (out.status == 101 || (out.status >= 200 && out.status < 300)) return out;

  // An error answer: read its body (Content-Length, else until EOF) for the message.
  Response err;
  err.status = out.status;
  err.headers = out.headers;
  err.body = std::move(out.buffered);
  size_t want = std::string::npos;
  if (auto it = err.headers.find("content-length"); it != err.headers.end()) {
    size_t v = 0;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    want = v;
  }
  while (err.body.size() < want) {
    ssize_t n = ::recv(out.fd.get(), tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    err.body.append(tmp, static_cast<size_t>(n));
  }
  throw DaemonError(err.status, err.error_message());
}

std::string read_body(Hijacked& h) {
  std::string raw = std::move(h.buffered);
  h.buffered.clear();
  auto header = [&](const char* name) {
    auto it = h.headers.find(name);
    return it == h.headers.end() ? std::string() : lower(it->second);
  };
  bool chunked = header("transfer-encoding").find("chunked") != std::string::npos;
  size_t want = std::string::npos;
  if (std::string cl = header("content-length"); !chunked && !cl.empty()) {
    size_t v = 0;
    std::from_chars(cl.data(), cl.data() + cl.size(), v);
    want = v;
  }
  // Chunked: done once the zero-size chunk arrived; else Content-Length bytes, else EOF.
  auto complete = [&](std::string* out) {
    if (!chunked) return raw.size() >= want;
    std::string body;
    for (size_t pos = 0;;) {
      size_t eol = raw.find("\r\n", pos);
      if (eol == std::string::npos) return false;
      size_t size = 0;
      auto [p, ec] = std::from_chars(raw.data() + pos, raw.data() + eol, size, 16);
      (void)p;
      if (ec != std::errc()) throw Error("malformed chunked body from the daemon");
      if (size == 0) {
        if (out != nullptr) *out = std::move(body);
        return true;
      }
      if (raw.size() < eol + 2 + size + 2) return false;
      body.append(raw, eol + 2, size);
      pos = eol + 2 + size + 2;
    }
  };
  char tmp[4096];
  while (!complete(nullptr)) {
    ssize_t n = ::recv(h.fd.get(), tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "read response body from", "the daemon");
    if (n == 0) {
      if (chunked) throw Error("the daemon closed the connection in the middle of a chunked answer");
      break;
    }
    raw.append(tmp, static_cast<size_t>(n));
  }
  if (!chunked) return want == std::string::npos ? raw : raw.substr(0, want);
  std::string body;
  complete(&body);
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
