#include "bocker/http/response.hpp"

#include <ctime>

namespace bocker::http {

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.push_back('\n');
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

Response Response::error(int status, std::string_view message) {
  return json(status, nlohmann::json{{"message", std::string(message)}});
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  return r;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool status_has_body(int status) noexcept { return !(status < 200 || status == 204 || status == 304); }

std::string http_date(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

namespace {
bool framing_header(std::string_view name) {
  return iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding");
}

// Header names and values must not smuggle line breaks into the head.
void append_clean(std::string& out, std::string_view s) {
  for (char c : s) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}
}  // namespace

std::string serialize_head(int status, std::string_view reason, const Headers& headers,
                           const HeadOptions& opts) {
  std::string out;
  out.reserve(256);
  if (status < 100 || status > 999) status = 500;
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  append_clean(out, reason.empty() ? reason_phrase(status) : reason);
  out += "\r\n";
  bool has_date = false, has_server = false, has_connection = false;
  for (const auto& [name, value] : headers) {
    if (framing_header(name)) continue;
    has_date |= iequals(name, "Date");
    has_server |= iequals(name, "Server");
    has_connection |= iequals(name, "Connection");
    append_clean(out, name);
    out += ": ";
    append_clean(out, value);
    out += "\r\n";
  }
  if (!has_date) {
    out += "Date: ";
    if (opts.date.empty()) {
      // Formatted once per second per thread: the Date header is on every response.
      thread_local std::time_t cached_at = 0;
      thread_local std::string cached;
      std::time_t now = std::time(nullptr);
      if (now != cached_at) {
        cached = http_date(std::chrono::system_clock::from_time_t(now));
        cached_at = now;
      }
      out += cached;
    } else {
      out += opts.date;
    }
    out += "\r\n";
  }
  if (!has_server && !opts.server.empty()) {
    out += "Server: ";
    append_clean(out, opts.server);
    out += "\r\n";
  }
  if (!has_connection && !opts.connection.empty()) {
    out += "Connection: ";
    out += opts.connection;
    out += "\r\n";
  }
  switch (opts.framing) {
    case Framing::kContentLength:
      out += "Content-Length: ";
      out += std::to_string(opts.content_length);
      out += "\r\n";
      break;
    case Framing::kChunked:
      out += "Transfer-Encoding: chunked\r\n";
      break;
    case Framing::kClose:
    case Framing::kNone:
      break;
  }
  out += "\r\n";
  return out;
}

std::string serialize_response(const Response& r, const SerializeOptions& opts) {
  HeadOptions head;
  bool body_allowed = status_has_body(r.status);
  head.framing = body_allowed ? Framing::kContentLength : Framing::kNone;
  head.content_length = r.body.size();
  head.connection = !opts.keep_alive ? "close" : (opts.http10 ? "keep-alive" : "");
  head.server = opts.server;
  head.date = opts.date;
  std::string out = serialize_head(r.status, r.reason, r.headers, head);
  if (body_allowed && !opts.head_request) out += r.body;
  return out;
}

std::string encode_chunk(std::string_view data) {
  if (data.empty()) return {};
  char len[20];
  int n = std::snprintf(len, sizeof len, "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<std::size_t>(n) + data.size() + 2);
  out.append(len, static_cast<std::size_t>(n));
  out.append(data);
  out += "\r\n";
  return out;
}

}  // namespace bocker::http
