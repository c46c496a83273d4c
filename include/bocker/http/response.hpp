// Responses and their wire form: status line, headers, Content-Length or chunked framing.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "bocker/http/request.hpp"

namespace bocker::http {

struct Response {
  int status = 200;
  std::string reason;  // empty: the standard reason phrase
  Headers headers;
  std::string body;

  // `body` serialized, with "Content-Type: application/json".
  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // Docker's error shape: {"message": "..."}.
  static Response error(int status, std::string_view message);
  static Response empty(int status = 204);
};

// "OK", "Not Found", ...; "Unknown" for codes without a standard phrase.
std::string_view reason_phrase(int status) noexcept;
// 1xx, 204 and 304 responses carry no body and no Content-Length.
bool status_has_body(int status) noexcept;
// RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point t = std::chrono::system_clock::now());

// How the body after a head is delimited.
enum class Framing {
  kContentLength,  // "Content-Length: n"
  kChunked,        // "Transfer-Encoding: chunked"
  kClose,          // no length: the body ends when the server closes the connection
  kNone,           // no body and no length header (1xx, 204, 304, upgrades)
};

struct HeadOptions {
  Framing framing = Framing::kContentLength;
  std::uint64_t content_length = 0;
  std::string_view connection;  // "close"/"keep-alive": added unless the headers set Connection
  std::string_view server;      // the Server header; empty: none
  std::string_view date;        // the Date header; empty: now
};

// Status line and headers up to and including the blank line. Framing headers in `headers`
// (Content-Length, Transfer-Encoding) are replaced by the ones `opts.framing` calls for.
std::string serialize_head(int status, std::string_view reason, const Headers& headers,
                           const HeadOptions& opts);

struct SerializeOptions {
  bool head_request = false;  // HEAD: keep Content-Length, leave the body out
  bool keep_alive = true;
  bool http10 = false;  // an HTTP/1.0 client that asked for keep-alive gets "Connection: keep-alive"
  std::string_view server;
  std::string_view date;
};
std::string serialize_response(const Response& r, const SerializeOptions& opts);

// One chunk of a chunked body: "<hex len>\r\n<data>\r\n". Empty data gives an empty string
// (an empty chunk would end the body; use kLastChunk for that).
std::string encode_chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace bocker::http
