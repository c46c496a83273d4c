#include "bocker/http/parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bocker::http {
namespace {

// Feeds `data` in pieces of `step` bytes; returns the total consumed.
std::size_t feed_split(RequestParser& p, std::string_view data, std::size_t step) {
  std::size_t used = 0;
  while (used < data.size() && !p.complete() && !p.failed()) {
    std::size_t n = std::min(step, data.size() - used);
    std::size_t got = p.feed(data.substr(used, n));
    used += got;
    if (got < n) break;
  }
  return used;
}

TEST(RequestParser, ParsesSimpleGet) {
  RequestParser p;
  std::string raw =
      "GET /v1.47/containers/json?all=1&filters=%7B%22a%22%3A1%7D&x=a+b HTTP/1.1\r\nHost: d\r\nX-Thing: "
      "One\r\n\r\n";
  EXPECT_EQ(p.feed(raw), raw.size());
  ASSERT_TRUE(p.complete());
  Request r = p.take();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/v1.47/containers/json?all=1&filters=%7B%22a%22%3A1%7D&x=a+b");
  EXPECT_EQ(r.path, "/v1.47/containers/json");
  EXPECT_EQ(r.query.at("all"), "1");
  EXPECT_EQ(r.query.at("filters"), "{\"a\":1}");
  EXPECT_EQ(r.query.at("x"), "a b");
  EXPECT_EQ(r.headers.get("x-thing").value_or(""), "One");
  EXPECT_EQ(r.headers.get("HOST").value_or(""), "d");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.upgrade);
  EXPECT_EQ(r.http_major, 1u);
  EXPECT_EQ(r.http_minor, 1u);
  EXPECT_FALSE(p.started());
}

TEST(RequestParser, ByteByByteMatchesWhole) {
  std::string raw =
      "POST /containers/create?name=web HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 13\r\n\r\n{\"Image\":\"a\"}";
  RequestParser p;
  EXPECT_EQ(feed_split(p, raw, 1), raw.size());
  ASSERT_TRUE(p.complete());
  Request r = p.take();
  EXPECT_EQ(r.body, "{\"Image\":\"a\"}");
  EXPECT_EQ(r.headers.get("content-type").value_or(""), "application/json");
  EXPECT_EQ(r.query.at("name"), "web");
}

TEST(RequestParser, StopsAfterOneMessageForPipelining) {
  std::string one = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string two = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
  std::string raw = one + two;
  RequestParser p;
  std::size_t used = p.feed(raw);
  EXPECT_EQ(used, one.size());
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.take().path, "/a");
  EXPECT_EQ(p.feed(std::string_view(raw).substr(used)), two.size());
  ASSERT_TRUE(p.complete());
  Request r = p.take();
  EXPECT_EQ(r.path, "/b");
  EXPECT_EQ(r.body, "hi");
}

TEST(RequestParser, ChunkedRequestBody) {
  std::string raw =
      "POST /build HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
      "world\r\n0\r\n\r\n";
  for (std::size_t step : {1u, 3u, 1000u}) {
    RequestParser p;
    EXPECT_EQ(feed_split(p, raw, step), raw.size());
    ASSERT_TRUE(p.complete()) << step;
    EXPECT_EQ(p.take().body, "hello world");
  }
}

TEST(RequestParser, UpgradeLeavesEarlyBytes) {
  std::string head =
      "POST /v1.47/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
      "Upgrade: tcp\r\n\r\n";
  std::string raw = head + "early stdin bytes";
  RequestParser p;
  std::size_t used = p.feed(raw);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(used, head.size());
  EXPECT_TRUE(p.request().upgrade);
  EXPECT_EQ(raw.substr(used), "early stdin bytes");
}

TEST(RequestParser, UpgradeWithContentLengthZero) {
  std::string head =
      "POST /exec/1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: "
      "0\r\n\r\n";
  RequestParser p;
  std::size_t used = p.feed(head + "xyz");
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(used, head.size());
  EXPECT_TRUE(p.request().upgrade);
}

TEST(RequestParser, UpgradeWithBodyKeepsBodyAndLeftover) {
  std::string msg =
      "POST /exec/1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: "
      "2\r\n\r\n{}";
  RequestParser p;
  std::size_t used = p.feed(msg + "raw");
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(used, msg.size());
  EXPECT_EQ(p.request().body, "{}");
}

TEST(RequestParser, MalformedGets400WithErrnoName) {
  RequestParser p;
  p.feed("GE(T / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 400);
  EXPECT_EQ(p.error().name.rfind("HPE_", 0), 0u) << p.error().name;
  EXPECT_EQ(p.feed("more"), 0u);
}

TEST(RequestParser, BadPercentEscapeIs400) {
  RequestParser p;
  p.feed("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 400);
  EXPECT_EQ(p.error().name, "INVALID_TARGET");
}

TEST(RequestParser, HeaderTooLargeIs431) {
  RequestParser p(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 100});
  std::string raw = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
  feed_split(p, raw, 7);
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 431);
}

TEST(RequestParser, ManySmallHeadersCountTowardsLimit) {
  RequestParser p(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 100});
  std::string raw = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 200; ++i) raw += "A: b\r\n";
  raw += "\r\n";
  p.feed(raw);
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 431);
}

TEST(RequestParser, DeclaredBodyTooLargeIs413BeforeBodyArrives) {
  RequestParser p(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 10});
  p.feed("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 413);
}

TEST(RequestParser, ChunkedBodyTooLargeIs413) {
  RequestParser p(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 10});
  p.feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  ASSERT_TRUE(p.failed());
  EXPECT_EQ(p.error().status, 413);
}

TEST(RequestParser, StreamingBodyHasNoLimitAndComesInChunks) {
  RequestParser p(ParserLimits{.max_header_bytes = 1024, .max_body_bytes = 4});
  p.set_stream_decider([](Request& r) { return r.path == "/load"; });
  std::string head = "POST /load HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
  p.feed(head + "01234");
  ASSERT_TRUE(p.headers_complete());
  EXPECT_TRUE(p.streaming());
  EXPECT_FALSE(p.complete());
  EXPECT_EQ(p.take_body_chunk(), "01234");
  EXPECT_EQ(p.feed("56789GET"), 5u);
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(p.take_body_chunk(), "56789");
  EXPECT_TRUE(p.request().body.empty());
}

TEST(RequestParser, Http10DefaultsToClose) {
  RequestParser p;
  p.feed("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(p.complete());
  EXPECT_FALSE(p.request().keep_alive);
  RequestParser q;
  q.feed("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(q.complete());
  EXPECT_FALSE(q.request().keep_alive);
}

TEST(RequestParser, EofMidRequestFails) {
  RequestParser p;
  p.feed("GET / HTT");
  EXPECT_TRUE(p.started());
  EXPECT_FALSE(p.finish());
  EXPECT_TRUE(p.failed());
  RequestParser idle;
  EXPECT_TRUE(idle.finish());
}

TEST(RequestParser, AbsoluteFormTarget) {
  RequestParser p;
  p.feed("GET http://docker/v1.47/_ping?x=1 HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.request().path, "/v1.47/_ping");
  EXPECT_EQ(p.request().query.at("x"), "1");
}

}  // namespace
}  // namespace bocker::http
