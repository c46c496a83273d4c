#include "bocker/http/response.hpp"

#include <gtest/gtest.h>

#include "bocker/http/url.hpp"

namespace bocker::http {
namespace {

TEST(Response, SerializesWithLengthDateAndServer) {
  Response r = Response::text(200, "hello");
  std::string wire = serialize_response(r, {.server = "bocker", .date = "Mon, 01 Jan 2024 00:00:00 GMT"});
  EXPECT_EQ(
      wire,
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
      "Server: bocker\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(Response, HeadKeepsLengthDropsBody) {
  Response r = Response::text(200, "hello");
  std::string wire = serialize_response(r, {.head_request = true, .date = "x"});
  EXPECT_NE(wire.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 4), "\r\n\r\n");
}

TEST(Response, NoContentHasNoLengthOrBody) {
  Response r = Response::empty(204);
  r.body = "ignored";
  std::string wire = serialize_response(r, {.date = "x"});
  EXPECT_EQ(wire, "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n");
}

TEST(Response, CloseAndKeepAliveConnectionHeaders) {
  Response r = Response::text(200, "");
  EXPECT_NE(serialize_response(r, {.keep_alive = false, .date = "x"}).find("Connection: close\r\n"),
            std::string::npos);
  EXPECT_NE(serialize_response(r, {.http10 = true, .date = "x"}).find("Connection: keep-alive\r\n"),
            std::string::npos);
  EXPECT_EQ(serialize_response(r, {.date = "x"}).find("Connection"), std::string::npos);
}

TEST(Response, JsonErrorShape) {
  Response r = Response::error(404, "no such container: \"a\"");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headers.get("content-type").value_or(""), "application/json");
  EXPECT_EQ(r.body, "{\"message\":\"no such container: \\\"a\\\"\"}\n");
}

TEST(Response, UserFramingHeadersAreReplacedAndLineBreaksNeutralized) {
  Headers h;
  h.add("Content-Length", "999");
  h.add("X-Evil", "a\r\nSet-Cookie: x");
  std::string head = serialize_head(200, "", h, {.framing = Framing::kChunked, .date = "x"});
  EXPECT_EQ(head.find("999"), std::string::npos);
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(head.find("X-Evil: a  Set-Cookie: x\r\n"), std::string::npos);
}

TEST(Response, UpgradeHead) {
  Headers h;
  h.add("Connection", "Upgrade");
  h.add("Upgrade", "tcp");
  std::string head = serialize_head(101, "UPGRADED", h, {.framing = Framing::kNone, .date = "x"});
  EXPECT_EQ(head, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nDate: x\r\n\r\n");
}

TEST(Response, Chunks) {
  EXPECT_EQ(encode_chunk("hello world, 26 bytes long"), "1a\r\nhello world, 26 bytes long\r\n");
  EXPECT_EQ(encode_chunk(""), "");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
}

TEST(Response, HttpDateFormat) {
  auto t = std::chrono::system_clock::from_time_t(784111777);  // RFC example
  EXPECT_EQ(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(Response, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(799), "Unknown");
  EXPECT_FALSE(status_has_body(304));
  EXPECT_TRUE(status_has_body(200));
}

TEST(Url, PercentDecode) {
  EXPECT_EQ(percent_decode("a%2Fb%20c").value_or("?"), "a/b c");
  EXPECT_EQ(percent_decode("a+b").value_or("?"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true).value_or("?"), "a b");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_EQ(percent_encode("a b/c~", true), "a%20b/c~");
  EXPECT_EQ(percent_decode(percent_encode("{\"x\": [1]}")).value_or("?"), "{\"x\": [1]}");
}

TEST(Url, ParseQuery) {
  auto q = parse_query("a=1&&b=x%20y&c&d=&a=2");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 5u);
  EXPECT_EQ((*q)[1], std::make_pair(std::string("b"), std::string("x y")));
  EXPECT_EQ((*q)[2], std::make_pair(std::string("c"), std::string("")));
  EXPECT_EQ((*q)[4].second, "2");
  EXPECT_FALSE(parse_query("a=%G1"));
}

TEST(Url, SplitTarget) {
  auto t = split_target("/a/b?x=1#frag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/a/b");
  EXPECT_EQ(t->query, "x=1");
  t = split_target("http://host:2375/v1.47/info");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1.47/info");
  EXPECT_FALSE(split_target("*"));
  EXPECT_FALSE(split_target("ftp://x/y"));
  EXPECT_FALSE(split_target(""));
}

TEST(Request, QueryBoolFollowsDocker) {
  Request r;
  r.query = {{"a", "1"}, {"b", "0"}, {"c", "False"}, {"d", ""}, {"e", "yes"}, {"f", " none "}};
  EXPECT_TRUE(r.query_bool("a"));
  EXPECT_FALSE(r.query_bool("b"));
  EXPECT_FALSE(r.query_bool("c"));
  EXPECT_FALSE(r.query_bool("d", true));
  EXPECT_TRUE(r.query_bool("e"));
  EXPECT_FALSE(r.query_bool("f"));
  EXPECT_TRUE(r.query_bool("missing", true));
  EXPECT_EQ(r.query_value("missing", "def"), "def");
}

TEST(Headers, CaseInsensitiveAndTokens) {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("X-A", "1");
  h.add("x-a", "2");
  EXPECT_EQ(h.get_all("X-a").size(), 2u);
  h.set("X-A", "3");
  EXPECT_EQ(h.get_all("x-a"), std::vector<std::string_view>{"3"});
  EXPECT_TRUE(has_token(*h.get("connection"), "upgrade"));
  EXPECT_FALSE(has_token(*h.get("connection"), "close"));
  EXPECT_EQ(h.remove("CONNECTION"), 1u);
  EXPECT_FALSE(h.has("Connection"));
}

}  // namespace
}  // namespace bocker::http
