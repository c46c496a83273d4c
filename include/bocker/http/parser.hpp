// Incremental HTTP/1.1 request parser over libhttp-parser: feed it bytes as they arrive,
// take one complete Request at a time (pipelined requests stay in the caller's buffer).
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "bocker/http/request.hpp"

namespace bocker::http {

struct ParserLimits {
  std::size_t max_header_bytes = 64 * 1024;       // request line + header fields -> 431
  std::size_t max_body_bytes = 16 * 1024 * 1024;  // buffered bodies only -> 413
};

struct ParseError {
  int status = 400;     // the response status to answer with: 400, 413 or 431
  std::string name;     // libhttp-parser errno name ("HPE_INVALID_METHOD") or ours ("HEADER_TOO_LARGE")
  std::string message;  // what was wrong, for the error body and the log
};

class RequestParser {
 public:
  // Decides, once the head is parsed, whether the body streams (true: no size limit, the
  // bytes are collected by take_body_chunk()) or is buffered into Request::body.
  using StreamDecider = std::function<bool(Request&)>;

  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  void set_stream_decider(StreamDecider fn) { decider_ = std::move(fn); }
  const ParserLimits& limits() const noexcept { return limits_; }

  // Parses bytes of the current message and returns how many it consumed. It stops right
  // after a complete message: the rest is the next pipelined request or, after an upgrade,
  // bytes of the new protocol. After an error, failed() is true and nothing more is consumed.
  std::size_t feed(std::string_view data);
  // The peer closed its side. Returns false (and fails) when a message was cut short.
  bool finish();

  bool started() const noexcept { return started_; }
  bool headers_complete() const noexcept { return headers_complete_; }
  bool complete() const noexcept { return complete_; }
  bool failed() const noexcept { return failed_; }
  bool streaming() const noexcept { return streaming_; }
  const ParseError& error() const noexcept { return error_; }

  // The request being parsed; its head is valid once headers_complete().
  Request& request() noexcept { return req_; }
  // Streamed body bytes parsed since the last call.
  std::string take_body_chunk();
  // Moves out the complete request and resets for the next message.
  Request take();
  void reset();

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t len);
  static int on_header_field(http_parser* p, const char* at, std::size_t len);
  static int on_header_value(http_parser* p, const char* at, std::size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t len);
  static int on_message_complete(http_parser* p);

  int fail(int status, std::string name, std::string message);
  bool count_head(std::size_t n);
  bool finish_head();

  ParserLimits limits_;
  StreamDecider decider_;
  http_parser parser_{};
  http_parser_settings settings_{};
  Request req_;
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  std::size_t head_bytes_ = 0;
  std::string chunk_;
  ParseError error_;
  bool started_ = false;
  bool headers_complete_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool streaming_ = false;
};

}  // namespace bocker::http
