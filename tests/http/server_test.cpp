#include "bocker/http/server.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "bocker/runtime/io.hpp"
#include "server_harness.hpp"
#include "test_client.hpp"

namespace bocker::http {
namespace {

using testing::ServerThread;
using testing::TestConn;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bocker-http-XXXXXX";
    path_ = check_ptr(::mkdtemp(tmpl));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  static std::string check_ptr(char* p) {
    if (p == nullptr) throw SystemError(errno, "mkdtemp", "/tmp/bocker-http-XXXXXX");
    return p;
  }
  std::string path_;
};

// Routes shared by most tests.
Router test_router() {
  Router r;
  r.get("/_ping",
        [](Request&, ResponseWriter& w) -> rt::Task<void> { co_await w.send(Response::text(200, "OK")); });
  r.head("/_ping",
         [](Request&, ResponseWriter& w) -> rt::Task<void> { co_await w.send(Response::text(200, "OK")); });
  r.get("/echo/{what}", [](Request& req, ResponseWriter& w) -> rt::Task<void> {
    co_await w.send(Response::text(200, req.param("what") + "|" + req.api_version + "|" + req.route));
  });
  r.post("/containers/{id}/start", [](Request& req, ResponseWriter& w) -> rt::Task<void> {
    co_await w.send(Response::text(200, "started " + req.param("id") + " v=" + req.api_version));
  });
  r.post("/body", [](Request& req, ResponseWriter& w) -> rt::Task<void> {
    co_await w.send(Response::text(200, std::to_string(req.body.size()) + ":" + req.body));
  });
  r.get("/stream", [](Request&, ResponseWriter& w) -> rt::Task<void> {
    Headers h;
    h.add("Content-Type", "text/plain");
    co_await w.begin_stream(200, std::move(h));
    for (int i = 0; i < 3; ++i) {
      co_await w.write("part" + std::to_string(i) + ";");
      co_await rt::sleep_for(20ms);
    }
    co_await w.end();
  });
  r.post(
      "/load",
      [](Request& req, ResponseWriter& w) -> rt::Task<void> {
        std::size_t total = 0;
        int pieces = 0;
        while (true) {
          std::string piece = co_await req.body_stream->read();
          if (piece.empty()) break;
          total += piece.size();
          ++pieces;
        }
        co_await w.send(Response::text(200, "loaded " + std::to_string(total)));
      },
      RouteOptions{.stream_body = true});
  r.post("/wait", [](Request&, ResponseWriter& w) -> rt::Task<void> {
    Headers h;
    h.add("Content-Type", "application/json");
    co_await w.begin_stream(200, std::move(h));
    co_await rt::sleep_for(300ms);
    co_await w.write("{\"StatusCode\":0}\n");
    co_await w.end();
  });
  r.get("/raw", [](Request&, ResponseWriter& w) -> rt::Task<void> {
    Headers h;
    h.add("Content-Type", "application/octet-stream");
    co_await w.begin_stream(200, std::move(h), Framing::kClose);
    co_await w.write("raw-bytes-until-close");
    co_await w.end();
  });
  r.get("/missing", [](Request&, ResponseWriter&) -> rt::Task<void> {
    throw not_found("no such container: abc");
    co_return;
  });
  r.post("/attach", [](Request&, ResponseWriter& w) -> rt::Task<void> {
    Headers hdrs;
    hdrs.add("Content-Type", "application/vnd.docker.raw-stream");
    hdrs.add("Connection", "Upgrade");
    hdrs.add("Upgrade", "tcp");
    Hijacked h = co_await w.hijack(101, std::move(hdrs));
    // Echo: the early bytes, then what arrives, until the client sends "END".
    std::string got = h.leftover;
    char buf[256];
    while (got.find("END") == std::string::npos) {
      int n = co_await rt::recv(h.fd.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    std::string reply = "echo:" + got;
    co_await rt::write_all(h.fd.get(), reply, true);
  });
  return r;
}

ServerOptions unix_opts(const TempDir& dir) {
  ServerOptions o;
  o.listen = "unix://" + dir.path() + "/bocker.sock";
  o.server_name = "bocker-test";
  return o;
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  for (int i = 0; i < 3; ++i) {
    c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "OK");
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.headers.get("Server").value_or(""), "bocker-test");
    EXPECT_TRUE(r.headers.has("Date"));
    EXPECT_EQ(r.headers.get("Content-Length").value_or(""), "2");
  }
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send(
      "GET /echo/one HTTP/1.1\r\nHost: d\r\n\r\n"
      "POST /body HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc"
      "GET /v1.47/echo/three HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "one||/echo/{what}");
  EXPECT_EQ(c.read_response().body, "3:abc");
  EXPECT_EQ(c.read_response().body, "three|1.47|/echo/{what}");
}

TEST(HttpServer, ChunkedStreamingResponse) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /stream HTTP/1.1\r\nHost: d\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Transfer-Encoding").value_or(""), "chunked");
  EXPECT_FALSE(r.headers.has("Content-Length"));
  EXPECT_EQ(r.body, "part0;part1;part2;");
  // The connection is still usable after the last chunk.
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "OK");
}

TEST(HttpServer, ChunkedRequestBody) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("POST /body HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n");
  std::this_thread::sleep_for(20ms);
  c.send("5\r\npedia\r\n0\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "9:Wikipedia");
}

TEST(HttpServer, HeadersFirstBodyLater) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  auto t0 = std::chrono::steady_clock::now();
  c.send("POST /wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n");
  while (c.buffered().find("\r\n\r\n") == std::string_view::npos) ASSERT_TRUE(c.recv_more());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms) << "the head must not wait for the body";
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"StatusCode\":0}\n");
}

TEST(HttpServer, CloseDelimitedStream) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /raw HTTP/1.1\r\nHost: d\r\n\r\n");
  std::string all = c.read_to_eof();
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos) << all;
  EXPECT_EQ(all.find("Content-Length"), std::string::npos) << all;
  EXPECT_EQ(all.substr(all.size() - 21), "raw-bytes-until-close");
}

TEST(HttpServer, StreamedRequestBodyIsNotLimited) {
  TempDir dir;
  ServerOptions o = unix_opts(dir);
  o.limits.max_body_bytes = 1024;
  ServerThread st(o, test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  std::string body(300 * 1024, 'x');
  c.send("POST /load HTTP/1.1\r\nHost: d\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
  c.send(body);
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "loaded " + std::to_string(body.size()));
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "OK");
}

TEST(HttpServer, HijackGetsEarlyBytesAndRawSocket) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  // The head and the first stdin bytes in one write, as a fast client may send them.
  c.send(
      "POST /v1.47/attach?stream=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly-");
  std::string head;
  while (c.buffered().find("\r\n\r\n") == std::string_view::npos) ASSERT_TRUE(c.recv_more());
  std::size_t end = c.buffered().find("\r\n\r\n") + 4;
  head = c.read_exact(end);
  EXPECT_EQ(head.rfind("HTTP/1.1 101 UPGRADED\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: tcp\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: application/vnd.docker.raw-stream\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  c.send("late-END");
  EXPECT_EQ(c.read_to_eof(), "echo:early-late-END");
}

TEST(HttpServer, SlowClientTimesOutWhileOthersAreServed) {
  TempDir dir;
  ServerOptions o = unix_opts(dir);
  o.header_timeout = 400ms;
  ServerThread st(o, test_router());
  TestConn slow = TestConn::unix_socket(dir.path() + "/bocker.sock");
  auto t0 = std::chrono::steady_clock::now();
  std::string req = "GET /_ping HTTP/1.1\r\nHost: d\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  std::atomic<bool> send_failed{false};
  std::thread trickle([&] {
    try {
      for (char ch : req.substr(0, 30)) {
        slow.send(std::string_view(&ch, 1));
        std::this_thread::sleep_for(40ms);
      }
    } catch (const std::exception&) {
      send_failed = true;
    }
  });
  // Meanwhile another client is served at once.
  std::this_thread::sleep_for(50ms);
  TestConn fast = TestConn::unix_socket(dir.path() + "/bocker.sock");
  auto f0 = std::chrono::steady_clock::now();
  fast.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(fast.read_response().body, "OK");
  EXPECT_LT(std::chrono::steady_clock::now() - f0, 200ms);
  trickle.join();
  auto r = slow.read_response();
  EXPECT_EQ(r.status, 408);
  EXPECT_TRUE(slow.closed_by_peer());
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 350ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(HttpServer, HeaderTooLargeIs431) {
  TempDir dir;
  ServerOptions o = unix_opts(dir);
  o.limits.max_header_bytes = 4096;
  ServerThread st(o, test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 431);
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, BodyTooLargeIs413) {
  TempDir dir;
  ServerOptions o = unix_opts(dir);
  o.limits.max_body_bytes = 1024;
  ServerThread st(o, test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("POST /body HTTP/1.1\r\nHost: d\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("exceeds"), std::string::npos) << r.body;
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, MalformedRequestGets400AndClose) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /_ping HTTP/1.1\r\nBad Header\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("HPE_"), std::string::npos) << r.body;
  EXPECT_TRUE(c.closed_by_peer());
  // The daemon is fine.
  TestConn d = TestConn::unix_socket(dir.path() + "/bocker.sock");
  d.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(d.read_response().status, 200);
}

TEST(HttpServer, NotFoundAndMethodNotAllowed) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /v1.47/nope HTTP/1.1\r\nHost: d\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"message\":\"page not found\"}\n");
  c.send("DELETE /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  r = c.read_response();
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("Allow").value_or(""), "GET, HEAD");
}

TEST(HttpServer, VersionPrefixAndPathParams) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("POST /v1.47/containers/abc123/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "started abc123 v=1.47");
  c.send("POST /containers/abc123/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "started abc123 v=");
}

TEST(HttpServer, HeadHasNoBody) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("HEAD /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /echo/x HTTP/1.1\r\nHost: d\r\n\r\n");
  auto r = c.read_response(/*head_request=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.get("Content-Length").value_or(""), "2");
  EXPECT_TRUE(r.body.empty());
  // Had a body been sent, this next response would not parse.
  EXPECT_EQ(c.read_response().body, "x||/echo/{what}");
}

TEST(HttpServer, HandlerErrorBecomesJsonStatus) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /missing HTTP/1.1\r\nHost: d\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"message\":\"no such container: abc\"}\n");
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
}

TEST(HttpServer, StatsHookSeesRouteMethodStatus) {
  TempDir dir;
  ServerOptions o = unix_opts(dir);
  std::mutex mu;
  std::vector<std::tuple<std::string, std::string, int>> seen;
  o.on_request = [&](const RequestStats& s) {
    std::lock_guard lk(mu);
    seen.emplace_back(std::string(s.route), std::string(s.method), s.status);
    EXPECT_GE(s.duration.count(), 0);
  };
  ServerThread st(o, test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("POST /v1.47/containers/x/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n");
  c.read_response();
  c.send("GET /nope HTTP/1.1\r\nHost: d\r\n\r\n");
  c.read_response();
  st.stop();
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_tuple(std::string("/containers/{id}/start"), std::string("POST"), 200));
  EXPECT_EQ(seen[1], std::make_tuple(std::string(""), std::string("GET"), 404));
}

TEST(HttpServer, TcpListenerWithPortZero) {
  ServerOptions o;
  o.listen = "tcp://127.0.0.1:0";
  ServerThread st(o, test_router());
  ASSERT_NE(st.server().port(), 0);
  TestConn c = TestConn::tcp(st.server().port());
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "OK");
}

TEST(HttpServer, UnixSocketModeAndStaleSocket) {
  TempDir dir;
  std::string path = dir.path() + "/bocker.sock";
  {
    // A stale socket left by a dead daemon.
    Fd s(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  }
  ServerOptions o = unix_opts(dir);
  o.socket_mode = 0600;
  ServerThread st(o, test_router());
  struct stat sb {};
  ASSERT_EQ(::stat(path.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  // A second server on the same live socket is refused.
  Server second(unix_opts(dir), test_router());
  EXPECT_THROW(second.listen(), Error);
  st.stop();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket is removed on shutdown";
}

TEST(HttpServer, RefusesToReplaceARegularFile) {
  TempDir dir;
  std::string path = dir.path() + "/bocker.sock";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  Server s(unix_opts(dir), test_router());
  EXPECT_THROW(s.listen(), Error);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
}

TEST(HttpServer, StopEndsIdleConnections) {
  TempDir dir;
  auto st = std::make_unique<ServerThread>(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n");
  c.read_response();
  auto t0 = std::chrono::steady_clock::now();
  st->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(HttpServer, Http10GetsCloseAndNoChunking) {
  TempDir dir;
  ServerThread st(unix_opts(dir), test_router());
  TestConn c = TestConn::unix_socket(dir.path() + "/bocker.sock");
  c.send("GET /stream HTTP/1.0\r\n\r\n");
  std::string all = c.read_to_eof();
  EXPECT_EQ(all.find("chunked"), std::string::npos) << all;
  EXPECT_NE(all.find("part0;part1;part2;"), std::string::npos) << all;
}

}  // namespace
}  // namespace bocker::http
