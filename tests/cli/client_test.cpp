#include "bocker/cli/client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "fake_server.hpp"

namespace bocker::cli {
namespace {

using ::testing::ElementsAre;
using testing::FakeRequest;
using testing::FakeServer;
using ::testing::HasSubstr;
using testing::http_response;
using testing::TempDir;

// Answers /_ping with `api` (none when empty) and everything else with `body`, echoing the path.
FakeServer::Handler ping_then(std::string api, std::string body = "{}") {
  return [api, body](const FakeRequest& r, int) {
    if (r.path == "/_ping") {
      std::vector<std::string> h = {"Ostype: linux"};
      if (!api.empty()) h.push_back("Api-Version: " + api);
      return http_response(200, "OK", h, "text/plain; charset=utf-8");
    }
    return http_response(200, body);
  };
}

TEST(Client, NegotiatesDownToServerVersion) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.41", R"({"Version":"x"})"));
  Client c(parse_host(srv.uri()));
  c.negotiate();
  auto j = c.get_json("/version");
  EXPECT_EQ(j["Version"], "x");
  EXPECT_EQ(c.api_version(), "1.41");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "HEAD");
  EXPECT_EQ(reqs[0].path, "/_ping");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].path, "/v1.41/version");
}

TEST(Client, KeepsOwnVersionWhenServerIsNewer) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.50"));
  Client c(parse_host(srv.uri()));
  c.negotiate();
  EXPECT_EQ(c.api_version(), "1.47");
  c.get("/info");
  EXPECT_EQ(srv.requests().back().path, "/v1.47/info");
}

TEST(Client, FallsBackTo124WithoutHeader) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then(""));
  Client c(parse_host(srv.uri()));
  c.negotiate();
  EXPECT_EQ(c.api_version(), "1.24");
}

TEST(Client, PingFallsBackToGetWhenHeadFails) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int) {
    if (r.method == "HEAD") return http_response(405, "");
    return http_response(200, "OK", {"Api-Version: 1.44"}, "text/plain");
  });
  Client c(parse_host(srv.uri()));
  c.negotiate();
  EXPECT_EQ(c.api_version(), "1.44");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "GET");
}

TEST(Client, PinnedVersionSkipsPing) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.41"));
  Client c(parse_host(srv.uri()));
  c.pin_api_version("1.43");
  c.get("/containers/json?all=1");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1.43/containers/json?all=1");
}

TEST(Client, PostSendsBodyAndContentTypeDeleteSendsMethod) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.47", R"({"Id":"abc"})"));
  Client c(parse_host(srv.uri()));
  auto j = c.post_json("/containers/create?name=web", {{"Image", "alpine"}});
  EXPECT_EQ(j["Id"], "abc");
  Response r = c.del("/containers/web?force=1");
  EXPECT_TRUE(r.ok());
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);  // no /_ping: the first answer settles the version
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/v1.47/containers/create?name=web");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body)["Image"], "alpine");
  EXPECT_EQ(reqs[1].method, "DELETE");
  EXPECT_EQ(reqs[1].path, "/v1.47/containers/web?force=1");
}

TEST(Client, EmptyPostHasNoBodyAndExtraHeadersArrive) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.47", ""));
  Client c(parse_host(srv.uri()));
  Response r = c.send(
      Request{.method = "POST", .path = "/containers/x/start", .headers = {{"X-Registry-Auth", "e30="}}});
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  auto req = srv.requests().back();
  EXPECT_EQ(req.headers["content-length"], "0");
  EXPECT_EQ(req.headers["x-registry-auth"], "e30=");
}

TEST(Client, ErrorStatusBecomesDaemonErrorWithMessage) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"});
    return http_response(404, R"({"message":"No such container: web"})");
  });
  Client c(parse_host(srv.uri()));
  try {
    c.get_json("/containers/web/json");
    FAIL() << "no exception";
  } catch (const DaemonError& e) {
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
    EXPECT_STREQ(e.what(), "No such container: web");
  }
  Response r = c.get("/containers/web/json");  // plain get returns the status instead
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_message(), "No such container: web");
}

TEST(Client, StreamsLines) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.47", "{\"a\":1}\r\n{\"b\":2}\n\n{\"c\":3}"));
  Client c(parse_host(srv.uri()));
  std::vector<std::string> lines;
  long st =
      c.stream(Request{.method = "POST", .path = "/images/create?fromImage=alpine"}, [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      });
  EXPECT_EQ(st, 200);
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "", "{\"c\":3}"));
}

TEST(Client, StreamStopsWhenCallbackSaysSo) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.47", "one\ntwo\nthree\n"));
  Client c(parse_host(srv.uri()));
  std::vector<std::string> lines;
  c.stream(Request{.path = "/containers/x/logs?follow=1"}, [&](std::string_view l) {
    lines.emplace_back(l);
    return lines.size() < 2;
  });
  EXPECT_THAT(lines, ElementsAre("one", "two"));
}

TEST(Client, StreamsRawChunks) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", ping_then("1.47", std::string("\x01\0\0\0\0\0\0\x02hi", 10)));
  Client c(parse_host(srv.uri()));
  std::string all;
  c.stream(
      Request{.path = "/containers/x/logs"},
      [&](std::string_view d) {
        all.append(d);
        return true;
      },
      /*by_line=*/false);
  EXPECT_EQ(all, std::string("\x01\0\0\0\0\0\0\x02hi", 10));
}

TEST(Client, StreamErrorThrowsDaemonError) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"});
    return http_response(500, R"({"message":"pull failed"})");
  });
  Client c(parse_host(srv.uri()));
  int calls = 0;
  EXPECT_THROW(c.stream(Request{.method = "POST", .path = "/images/create"},
                        [&](std::string_view) {
                          ++calls;
                          return true;
                        }),
               DaemonError);
  EXPECT_EQ(calls, 0);
}

TEST(Client, HijackHandsBackTheRawSocket) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int fd) -> std::string {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"});
    std::string head =
        "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly";
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    char buf[64];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);  // echo one message back, then close
    if (n > 0) ::send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
    return "";
  });
  Client c(parse_host(srv.uri()));
  Hijacked h = c.hijack(Request{.method = "POST", .path = "/containers/x/attach?stream=1&stdin=1"});
  EXPECT_EQ(h.status, 101);
  EXPECT_EQ(h.headers["upgrade"], "tcp");
  EXPECT_EQ(h.headers["content-type"], "application/vnd.docker.raw-stream");
  EXPECT_EQ(h.buffered, "early");
  ASSERT_EQ(::send(h.fd.get(), "ping", 4, MSG_NOSIGNAL), 4);
  char buf[16];
  std::string got;
  for (ssize_t n; (n = ::recv(h.fd.get(), buf, sizeof(buf), 0)) > 0;) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, "ping");
  auto req = srv.requests().back();
  EXPECT_EQ(req.path, "/v1.47/containers/x/attach?stream=1&stdin=1");
  EXPECT_EQ(req.headers["upgrade"], "tcp");
  EXPECT_EQ(req.headers["connection"], "Upgrade");
}

TEST(Client, HijackErrorStatusThrows) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"});
    return http_response(409, R"({"message":"container x is not running"})");
  });
  Client c(parse_host(srv.uri()));
  try {
    c.hijack(Request{.method = "POST", .path = "/exec/e/start", .body = R"({"Detach":false})"});
    FAIL() << "no exception";
  } catch (const DaemonError& e) {
    EXPECT_EQ(e.status(), 409);
    EXPECT_STREQ(e.what(), "container x is not running");
  }
  EXPECT_EQ(srv.requests().back().body, R"({"Detach":false})");
}

TEST(Client, MissingSocketIsConnectErrorWithErrno) {
  TempDir dir;
  Client c(parse_host("unix://" + dir.path() + "/none.sock"));
  try {
    c.get("/version");
    FAIL() << "no exception";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_THAT(e.what(), HasSubstr(dir.path() + "/none.sock"));
  }
  try {
    c.hijack(Request{.method = "POST", .path = "/x"});
    FAIL() << "no exception";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.err(), ENOENT);
  }
}

TEST(Client, StaleSocketIsConnectionRefused) {
  TempDir dir;
  std::string path = dir.path() + "/stale.sock";
  { FakeServer srv(path, ping_then("1.47")); }  // bound, then closed: the file stays
  Client c(parse_host("unix://" + path));
  try {
    c.negotiate();
    FAIL() << "no exception";
  } catch (const ConnectError& e) {
    EXPECT_EQ(e.err(), ECONNREFUSED);
  }
}

TEST(ClientHelpers, QueryAndEncoding) {
  EXPECT_EQ(url_encode("docker.io/library/alpine:3"), "docker.io%2Flibrary%2Falpine%3A3");
  EXPECT_EQ(build_query({}), "");
  EXPECT_EQ(build_query({{"fromImage", "a/b"}, {"tag", "latest"}}), "?fromImage=a%2Fb&tag=latest");
}

TEST(ClientHelpers, CompareApiVersions) {
  EXPECT_LT(compare_api_versions("1.9", "1.47"), 0);
  EXPECT_GT(compare_api_versions("1.50", "1.47"), 0);
  EXPECT_EQ(compare_api_versions("1.47", "1.47"), 0);
  EXPECT_GT(compare_api_versions("2.0", "1.99"), 0);
  EXPECT_LT(compare_api_versions("junk", "1.0"), 0);
}

}  // namespace
}  // namespace bocker::cli
