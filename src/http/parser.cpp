#include "bocker/http/parser.hpp"

#include "bocker/http/url.hpp"

namespace bocker::http {

namespace {
RequestParser* self(http_parser* p) { return static_cast<RequestParser*>(p->data); }
// Per-field overhead counted against the header limit: ": " and CRLF.
constexpr std::size_t kFieldOverhead = 4;
}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &RequestParser::on_message_begin;
  settings_.on_url = &RequestParser::on_url;
  settings_.on_header_field = &RequestParser::on_header_field;
  settings_.on_header_value = &RequestParser::on_header_value;
  settings_.on_headers_complete = &RequestParser::on_headers_complete;
  settings_.on_body = &RequestParser::on_body;
  settings_.on_message_complete = &RequestParser::on_message_complete;
  reset();
}

void RequestParser::reset() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  req_ = Request{};
  field_.clear();
  value_.clear();
  in_value_ = false;
  head_bytes_ = 0;
  chunk_.clear();
  error_ = ParseError{};
  started_ = headers_complete_ = complete_ = failed_ = streaming_ = false;
}

int RequestParser::fail(int status, std::string name, std::string message) {
  if (!failed_) {
    failed_ = true;
    error_ = ParseError{status, std::move(name), std::move(message)};
  }
  return -1;
}

bool RequestParser::count_head(std::size_t n) {
  head_bytes_ += n;
  if (head_bytes_ > limits_.max_header_bytes) {
    fail(431, "HEADER_TOO_LARGE",
         "request header exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
    return false;
  }
  return true;
}

std::size_t RequestParser::feed(std::string_view data) {
  if (failed_ || complete_ || data.empty()) return 0;
  std::size_t n = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    // Paused by on_message_complete: the message is done, keep the rest for the next one.
    http_parser_pause(&parser_, 0);
    return n;
  }
  if (err != HPE_OK) {
    if (!failed_) {
      int status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
      fail(status, http_errno_name(err), http_errno_description(err));
    }
    return n;
  }
  if (parser_.upgrade && !complete_) {
    // libhttp-parser leaves the head of an upgrade (or CONNECT) request without a body.
    complete_ = true;
  }
  return n;
}

bool RequestParser::finish() {
  if (failed_) return false;
  if (complete_ || !started_) return true;
  fail(400, "HPE_INVALID_EOF_STATE", "connection closed in the middle of a request");
  return false;
}

std::string RequestParser::take_body_chunk() { return std::exchange(chunk_, {}); }

Request RequestParser::take() {
  Request out = std::move(req_);
  reset();
  return out;
}

int RequestParser::on_message_begin(http_parser* p) {
  self(p)->started_ = true;
  return 0;
}

int RequestParser::on_url(http_parser* p, const char* at, std::size_t len) {
  RequestParser* s = self(p);
  if (!s->count_head(len)) return -1;
  s->req_.target.append(at, len);
  return 0;
}

int RequestParser::on_header_field(http_parser* p, const char* at, std::size_t len) {
  RequestParser* s = self(p);
  if (!s->count_head(len + (s->in_value_ || s->field_.empty() ? kFieldOverhead : 0))) return -1;
  if (s->in_value_) {
    s->req_.headers.add(std::move(s->field_), std::move(s->value_));
    s->field_.clear();
    s->value_.clear();
    s->in_value_ = false;
  }
  s->field_.append(at, len);
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, std::size_t len) {
  RequestParser* s = self(p);
  if (!s->count_head(len)) return -1;
  s->in_value_ = true;
  s->value_.append(at, len);
  return 0;
}

bool RequestParser::finish_head() {
  if (!field_.empty() || in_value_) {
    req_.headers.add(std::move(field_), std::move(value_));
    field_.clear();
    value_.clear();
    in_value_ = false;
  }
  req_.method = http_method_str(static_cast<http_method>(parser_.method));
  req_.http_major = parser_.http_major;
  req_.http_minor = parser_.http_minor;
  req_.keep_alive = http_should_keep_alive(&parser_) != 0;
  req_.upgrade = parser_.upgrade != 0;
  auto parts = split_target(req_.target);
  if (!parts) {
    fail(400, "INVALID_TARGET", "invalid request target \"" + req_.target + "\"");
    return false;
  }
  auto path = percent_decode(parts->path);
  auto query = parse_query(parts->query);
  if (!path || !query) {
    fail(400, "INVALID_TARGET", "malformed percent-escape in request target \"" + req_.target + "\"");
    return false;
  }
  req_.raw_path = std::string(parts->path);
  req_.path = std::move(*path);
  req_.query_list = std::move(*query);
  for (const auto& [k, v] : req_.query_list) req_.query[k] = v;
  return true;
}

int RequestParser::on_headers_complete(http_parser* p) {
  RequestParser* s = self(p);
  if (!s->finish_head()) return -1;
  s->headers_complete_ = true;
  s->streaming_ = s->decider_ ? s->decider_(s->req_) : false;
  if (!s->streaming_ && (p->flags & F_CONTENTLENGTH) && p->content_length > s->limits_.max_body_bytes) {
    s->fail(413, "BODY_TOO_LARGE",
            "request body of " + std::to_string(p->content_length) + " bytes exceeds the limit of " +
                std::to_string(s->limits_.max_body_bytes) + " bytes");
    return -1;
  }
  return 0;
}

int RequestParser::on_body(http_parser* p, const char* at, std::size_t len) {
  RequestParser* s = self(p);
  if (s->streaming_) {
    s->chunk_.append(at, len);
    return 0;
  }
  if (s->req_.body.size() + len > s->limits_.max_body_bytes) {
    s->fail(413, "BODY_TOO_LARGE",
            "request body exceeds the limit of " + std::to_string(s->limits_.max_body_bytes) + " bytes");
    return -1;
  }
  s->req_.body.append(at, len);
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  RequestParser* s = self(p);
  s->complete_ = true;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace bocker::http
