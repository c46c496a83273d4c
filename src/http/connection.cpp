// The per-connection request loop, the response writer and streamed request bodies.
#include <sys/socket.h>

#include <algorithm>

#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "conn.hpp"

namespace bocker::http {

namespace detail {

rt::Task<int> Conn::fill(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) co_return -ETIMEDOUT;
  if (off > 0) {
    std::memmove(buf.get(), buf.get() + off, len - off);
    len -= off;
    off = 0;
  }
  const std::size_t want = std::max<std::size_t>(server.options().read_chunk, 512);
  if (cap - len < want / 4 || !buf) {
    std::size_t new_cap = std::max(cap * 2, len + want);
    auto bigger = std::make_unique_for_overwrite<char[]>(new_cap);
    if (len > 0) std::memcpy(bigger.get(), buf.get(), len);
    buf = std::move(bigger);
    cap = new_cap;
  }
  const std::size_t old = len;
  const std::size_t chunk = cap - len;
  // One SQE pair (recv + linked timeout) per read: no timer task, no extra cancel round trip.
  int n = co_await rt::recv(fd.get(), buf.get() + old, chunk, 0)
              .timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
  len = old + static_cast<std::size_t>(std::max(n, 0));
  co_return n;
}

rt::Task<void> Conn::send_all(std::string_view data) {
  long n = co_await rt::write_all(fd.get(), data, true);
  if (n < 0) throw SystemError(static_cast<int>(-n), "send response to", peer);
}

void Conn::report(std::string_view route, std::string_view method, int status,
                  Clock::time_point start) const {
  const auto& hook = server.options().on_request;
  if (!hook) return;
  try {
    hook(RequestStats{route, method, status, Clock::now() - start});
  } catch (...) {
    // A metrics hook must never take the connection down.
  }
}

rt::Task<void> Conn::linger_close() {
  // Half-close and read what the client still sends (briefly), so the error response is not
  // destroyed by a reset when we close with unread data.
  ::shutdown(fd.get(), SHUT_WR);
  auto deadline = Clock::now() + std::chrono::seconds(2);
  std::size_t drained = 0;
  while (drained < (1u << 20)) {
    int n = co_await fill(deadline);
    if (n <= 0) break;
    drained += static_cast<std::size_t>(n);
    clear();
  }
}

rt::Task<void> Conn::fail_request(int status, std::string message, const std::string& method,
                                  Clock::time_point start) {
  server.log("http " + peer + ": " + std::to_string(status) + " " + message);
  Response r = Response::error(status, message);
  SerializeOptions so;
  so.keep_alive = false;
  so.server = server.options().server_name;
  std::string wire = serialize_response(r, so);
  bool sent = true;
  try {
    co_await send_all(wire);
  } catch (const std::exception&) {
    sent = false;
  }
  report("", method, status, start);
  if (sent) co_await linger_close();
}

rt::Task<bool> Conn::serve_one() {
  const ServerOptions& o = server.options();
  RequestParser& p = parser;
  p.reset();
  close_after = false;
  auto start = Clock::now();
  auto deadline = start + o.idle_timeout;
  bool have_first = false;

  // The head. A client gets idle_timeout to start a request and header_timeout from its
  // first byte to the end of the head.
  while (!p.headers_complete() && !p.failed()) {
    if (!pending().empty()) {
      if (!have_first) {
        have_first = true;
        start = Clock::now();
        deadline = start + o.header_timeout;
      }
      consume(p.feed(pending()));
      continue;
    }
    int n = co_await fill(deadline);
    if (n == -ETIMEDOUT && have_first) {
      co_await fail_request(408, "timed out reading the request header", p.request().method, start);
      co_return false;
    }
    if (n <= 0) {
      if (n < 0 && n != -ETIMEDOUT && n != -ECANCELED && n != -ECONNRESET) {
        server.log("http " + peer + ": recv: " + errno_text(-n));
      }
      co_return false;
    }
  }
  Request& req = p.request();
  if (!p.failed() && !p.complete() && has_token(req.headers.get_or("Expect", ""), "100-continue")) {
    try {
      co_await send_all("HTTP/1.1 100 Continue\r\n\r\n");
    } catch (const std::exception&) {
      co_return false;
    }
  }
  // A buffered body.
  while (!p.streaming() && !p.complete() && !p.failed()) {
    if (!pending().empty()) {
      consume(p.feed(pending()));
      continue;
    }
    int n = co_await fill(Clock::now() + o.body_timeout);
    if (n == -ETIMEDOUT) {
      co_await fail_request(408, "timed out reading the request body", req.method, start);
      co_return false;
    }
    if (n <= 0) co_return false;
  }
  if (p.failed()) {
    co_await fail_request(p.error().status, p.error().message + " (" + p.error().name + ")", req.method,
                          start);
    co_return false;
  }

  ConnBody body(*this);
  if (p.streaming()) req.body_stream = &body;
  ResponseWriter w(*this, req);
  std::exception_ptr err;
  try {
    co_await server.handler_(req, w);
  } catch (...) {
    err = std::current_exception();
  }
  if (w.hijacked()) {
    report(req.route, req.method, w.status(), start);
    co_return false;
  }
  bool keep = req.keep_alive && !req.upgrade;
  if (err) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(err);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    server.log("http " + peer + ": " + req.method + " " + req.target + ": " + what);
    if (!w.started()) {
      try {
        co_await w.send(error_response(err));
      } catch (const std::exception&) {
        keep = false;
      }
    } else {
      keep = false;  // the response is cut short: only closing tells the client
    }
  } else if (!w.started()) {
    server.log("http " + peer + ": " + req.method + " " + req.target + ": handler sent no response");
    try {
      co_await w.send(Response::error(500, "handler sent no response"));
    } catch (const std::exception&) {
      keep = false;
    }
  } else if (!w.finished()) {
    try {
      co_await w.end();
    } catch (const std::exception&) {
      keep = false;
    }
  }
  report(req.route, req.method, w.status(), start);
  if (close_after || !fd) keep = false;
  if (p.streaming() && !p.complete()) keep = false;  // unread body: the next request starts who knows where
  co_return keep;
}

rt::Task<std::string> ConnBody::read() {
  RequestParser& p = c_.parser;
  while (true) {
    std::string chunk = p.take_body_chunk();
    if (!chunk.empty()) co_return chunk;
    if (p.failed()) throw invalid("malformed request body: " + p.error().message);
    if (p.complete()) co_return std::string();
    if (!c_.pending().empty()) {
      c_.consume(p.feed(c_.pending()));
      continue;
    }
    int n = co_await c_.fill(Clock::now() + c_.server.options().body_timeout);
    if (n == 0)
      throw invalid("client " + c_.peer + " closed the connection in the middle of the request body");
    if (n == -ETIMEDOUT)
      throw Error(Error::Kind::kTimeout, "timed out reading the request body from " + c_.peer);
    if (n < 0) throw SystemError(-n, "recv request body from", c_.peer);
  }
}

}  // namespace detail

rt::Task<std::string> BodyStream::read_all(std::size_t limit) {
  std::string out;
  while (true) {
    std::string piece = co_await read();
    if (piece.empty()) co_return out;
    if (out.size() + piece.size() > limit) {
      throw invalid("request body exceeds the limit of " + std::to_string(limit) + " bytes");
    }
    out += piece;
  }
}

rt::Task<void> Server::serve_conn(Fd fd, std::string peer) {
  detail::Conn c(*this, std::move(fd), std::move(peer));
  c.parser.set_stream_decider(stream_body_);
  while (c.fd) {
    if (!co_await c.serve_one()) break;
  }
}

// ---- ResponseWriter ----

std::string_view ResponseWriter::connection_header() const noexcept {
  if (!req_.keep_alive || req_.upgrade) return "close";
  return (req_.http_major == 1 && req_.http_minor == 0) ? "keep-alive" : "";
}

rt::Task<void> ResponseWriter::send_raw(std::string_view data) { co_await conn_.send_all(data); }

rt::Task<void> ResponseWriter::send(Response r) {
  if (state_ != State::kIdle) {
    throw Error("http: a response to " + req_.method + " " + req_.target + " was already started");
  }
  SerializeOptions so;
  so.head_request = req_.method == "HEAD";
  so.keep_alive = req_.keep_alive && !req_.upgrade;
  so.http10 = req_.http_major == 1 && req_.http_minor == 0;
  so.server = conn_.server.options().server_name;
  status_ = r.status;
  state_ = State::kDone;
  body_bytes_ = so.head_request ? 0 : r.body.size();
  std::string wire = serialize_response(r, so);
  co_await send_raw(wire);
}

rt::Task<void> ResponseWriter::begin_stream(int status, Headers headers, Framing framing,
                                            std::uint64_t content_length) {
  if (state_ != State::kIdle) {
    throw Error("http: a response to " + req_.method + " " + req_.target + " was already started");
  }
  suppress_body_ = req_.method == "HEAD" || !status_has_body(status);
  if (!status_has_body(status)) {
    framing = Framing::kNone;
  } else if (framing == Framing::kChunked && req_.http_major == 1 && req_.http_minor == 0) {
    framing = Framing::kClose;
  } else if (framing == Framing::kNone) {
    framing = Framing::kClose;
  }
  if (framing == Framing::kClose) conn_.close_after = true;
  HeadOptions h;
  h.framing = framing;
  h.content_length = content_length;
  h.connection = framing == Framing::kClose ? std::string_view("close") : connection_header();
  h.server = conn_.server.options().server_name;
  framing_ = framing;
  content_length_ = content_length;
  status_ = status;
  state_ = State::kStreaming;
  std::string wire = serialize_head(status, "", headers, h);
  co_await send_raw(wire);
}

rt::Task<void> ResponseWriter::write(std::string_view data) {
  if (state_ != State::kStreaming) {
    throw Error("http: write to the response for " + req_.method + " " + req_.target +
                " before begin_stream or after end");
  }
  if (data.empty() || suppress_body_) co_return;
  if (framing_ == Framing::kContentLength && body_bytes_ + data.size() > content_length_) {
    conn_.close_after = true;
    throw invalid("http: response body for " + req_.target + " exceeds its Content-Length of " +
                  std::to_string(content_length_));
  }
  body_bytes_ += data.size();
  if (framing_ == Framing::kChunked) {
    std::string chunk = encode_chunk(data);
    co_await send_raw(chunk);
  } else {
    co_await send_raw(data);
  }
}

rt::Task<void> ResponseWriter::end() {
  if (state_ != State::kStreaming) co_return;
  state_ = State::kDone;
  if (suppress_body_) co_return;
  if (framing_ == Framing::kChunked) {
    co_await send_raw(kLastChunk);
  } else if (framing_ == Framing::kContentLength && body_bytes_ != content_length_) {
    conn_.close_after = true;  // short body: the client can only tell by the close
  }
}

rt::Task<Hijacked> ResponseWriter::hijack(int status, Headers headers, std::string reason) {
  if (state_ != State::kIdle) {
    throw Error("http: cannot hijack " + req_.method + " " + req_.target +
                ": a response was already started");
  }
  HeadOptions h;
  h.framing = Framing::kNone;
  h.server = conn_.server.options().server_name;
  status_ = status;
  state_ = State::kHijacked;
  conn_.close_after = true;
  std::string wire = serialize_head(status, reason, headers, h);
  co_await send_raw(wire);
  Hijacked out{std::move(conn_.fd), std::string(conn_.pending())};
  conn_.consume(conn_.pending().size());
  co_return out;
}

}  // namespace bocker::http
