// The container commands against the in-test fake daemon: the create body run/create build from
// flags and bocker's environment defaults, attach/start/wait with frames and exit codes, stdin
// forwarding with a half-close, logs demultiplexing, exec, ps/stats tables and docker's errors.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "bocker/cli/command.hpp"
#include "bocker/cli/container_format.hpp"
#include "bocker/cli/container_opts.hpp"
#include "bocker/cli/stdio_stream.hpp"
#include "fake_server.hpp"

namespace bocker::cli {
namespace {

using testing::FakeRequest;
using testing::FakeServer;
using ::testing::HasSubstr;
using testing::http_response;
using testing::TempDir;

struct Outcome {
  int rc;
  std::string out;
  std::string err;
};

Outcome run_cli(std::vector<std::string> argv, std::map<std::string, std::string> env = {}, int in_fd = -1) {
  std::ostringstream out, err;
  env["BOCKER_NO_AUTOSTART"] = "1";
  Env e = Env::from_map(env);
  int rc = run(argv, out, err, e, in_fd);
  return {rc, out.str(), err.str()};
}

const std::string kCid = std::string(64, 'c');

std::string error_json(const std::string& msg) { return nlohmann::json{{"message", msg}}.dump(); }

std::string hijack_head(bool tty = false) {
  return std::string("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.") +
         (tty ? "raw-stream" : "multiplexed-stream") + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
}

// A fake daemon: /_ping, plus `route` for everything else (paths without the /v1.47 prefix).
struct Daemon {
  using Route = std::function<std::string(const FakeRequest&, const std::string& path, int fd)>;
  TempDir dir;
  FakeServer server;
  explicit Daemon(Route route)
      : server(dir.path() + "/d.sock", [route](const FakeRequest& r, int fd) {
          if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"}, "text/plain");
          std::string p = r.path.starts_with("/v1.47") ? r.path.substr(6) : r.path;
          return route(r, p, fd);
        }) {}
  std::vector<std::string> argv(std::vector<std::string> rest) const {
    rest.insert(rest.begin(), {"-H", server.uri()});
    return rest;
  }
  std::vector<FakeRequest> requests(const std::string& prefix) const {
    std::vector<FakeRequest> out;
    for (auto& r : server.requests()) {
      std::string p = r.path.starts_with("/v1.47") ? r.path.substr(6) : r.path;
      if (p.starts_with(prefix)) out.push_back(r);
    }
    return out;
  }
};

// A daemon whose one container prints `frames` through attach and exits with `code`.
Daemon::Route run_route(std::string frames, int code, bool* removed_wait = nullptr) {
  return [frames, code, removed_wait](const FakeRequest&, const std::string& p, int) {
    if (p.starts_with("/containers/create"))
      return http_response(201, "{\"Id\":\"" + kCid + "\",\"Warnings\":[]}");
    if (p.starts_with("/containers/" + kCid + "/attach")) return hijack_head() + frames;
    if (p.starts_with("/containers/" + kCid + "/wait")) {
      if (removed_wait != nullptr) *removed_wait = p.find("condition=removed") != std::string::npos;
      return http_response(200, "{\"StatusCode\":" + std::to_string(code) + ",\"Error\":null}");
    }
    if (p == "/containers/" + kCid + "/start") return http_response(204, "");
    return http_response(404, error_json("page not found"));
  };
}

// ------------------------------------------------------------------- create body

TEST(CreateBody, FlagsMakeConfigAndHostConfig) {
  TempDir dir;
  std::string env_file = dir.path() + "/env";
  std::ofstream(env_file) << "# comment\n\nFROM_FILE=1\nHOME_COPY\n";
  std::vector<FlagSpec> specs = container_create_flags();
  std::vector<std::string> argv = {"-m",
                                   "64m",
                                   "-e",
                                   "A=b",
                                   "--rm",
                                   "--env-file",
                                   env_file,
                                   "-w",
                                   "/tmp",
                                   "-u",
                                   "1000:1000",
                                   "--name",
                                   "n1",
                                   "-h",
                                   "box",
                                   "-p",
                                   "127.0.0.1:8080:80",
                                   "-p",
                                   "53/udp",
                                   "-v",
                                   "/srv:/data:ro",
                                   "-v",
                                   "/anon",
                                   "--cpus",
                                   "1.5",
                                   "--pids-limit",
                                   "20",
                                   "--memory-swap",
                                   "-1",
                                   "-c",
                                   "100",
                                   "--network",
                                   "none",
                                   "--volumes-from",
                                   "other",
                                   "--entrypoint",
                                   "/bin/sh",
                                   "alpine",
                                   "-c",
                                   "echo hi"};
  ParsedArgs parsed = parse_flags(specs, argv, false);
  Env env = Env::from_map({{"HOME_COPY", "/root"}});
  CreateRequest req = build_create_request(parsed.flags, parsed.args, false, env);
  const auto& b = req.body;
  EXPECT_EQ(req.name, "n1");
  EXPECT_EQ(b["Image"], "alpine");
  EXPECT_EQ(b["Cmd"], nlohmann::json({"-c", "echo hi"}));
  EXPECT_EQ(b["Entrypoint"], nlohmann::json({"/bin/sh"}));
  EXPECT_EQ(b["Env"], nlohmann::json({"FROM_FILE=1", "HOME_COPY=/root", "A=b"}));
  EXPECT_EQ(b["WorkingDir"], "/tmp");
  EXPECT_EQ(b["User"], "1000:1000");
  EXPECT_EQ(b["Hostname"], "box");
  EXPECT_EQ(b["AttachStdout"], true);
  EXPECT_EQ(b["OpenStdin"], false);
  EXPECT_EQ(b["ExposedPorts"], nlohmann::json::parse(R"({"80/tcp":{},"53/udp":{}})"));
  EXPECT_EQ(b["Volumes"], nlohmann::json::parse(R"({"/anon":{}})"));
  const auto& hc = b["HostConfig"];
  EXPECT_EQ(hc["Memory"], 64 * 1024 * 1024);
  EXPECT_EQ(hc["MemorySwap"], -1);
  EXPECT_EQ(hc["AutoRemove"], true);
  EXPECT_EQ(hc["CpuShares"], 100);
  EXPECT_EQ(hc["NanoCpus"], 1500000000);
  EXPECT_EQ(hc["PidsLimit"], 20);
  EXPECT_EQ(hc["NetworkMode"], "none");
  EXPECT_EQ(hc["Binds"], nlohmann::json({"/srv:/data:ro"}));
  EXPECT_EQ(hc["VolumesFrom"], nlohmann::json({"other"}));
  EXPECT_EQ(
      hc["PortBindings"],
      nlohmann::json::parse(
          R"({"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":[{"HostIp":"","HostPort":""}]})"));
}

TEST(CreateBody, BockerEnvironmentDefaultsApplyWithoutFlags) {
  std::vector<FlagSpec> specs = container_create_flags();
  std::vector<std::string> argv = {"alpine"};
  ParsedArgs parsed = parse_flags(specs, argv, false);
  auto hc = build_create_request(parsed.flags, parsed.args, true, Env::from_map({})).body["HostConfig"];
  EXPECT_EQ(hc["Memory"], 512000000);
  EXPECT_EQ(hc["CpuShares"], 512);
  hc = build_create_request(parsed.flags, parsed.args, true,
                            Env::from_map({{"BOCKER_MEM_LIMIT", "64"}, {"BOCKER_CPU_SHARE", "1024"}}))
           .body["HostConfig"];
  EXPECT_EQ(hc["Memory"], 64000000);
  EXPECT_EQ(hc["CpuShares"], 1024);
  hc = build_create_request(parsed.flags, parsed.args, true, Env::from_map({{"BOCKER_MEM_LIMIT", "0"}}))
           .body["HostConfig"];
  EXPECT_FALSE(hc.contains("Memory")) << "0: no limit";
  EXPECT_THROW(
      build_create_request(parsed.flags, parsed.args, true, Env::from_map({{"BOCKER_MEM_LIMIT", "lots"}})),
      UsageError);
}

TEST(CreateBody, BadValuesAreUsageErrors) {
  std::vector<FlagSpec> specs = container_create_flags();
  auto build = [&](std::vector<std::string> argv) {
    ParsedArgs parsed = parse_flags(specs, argv, false);
    return build_create_request(parsed.flags, parsed.args, false, Env::from_map({}));
  };
  EXPECT_THROW(build({"-m", "lots", "alpine"}), UsageError);
  EXPECT_THROW(build({"-p", "99999:80", "alpine"}), UsageError);
  EXPECT_THROW(build({"-p", "80/xyz", "alpine"}), UsageError);
  EXPECT_THROW(build({"--restart", "sometimes", "alpine"}), UsageError);
  EXPECT_THROW(build({"--restart", "always", "--rm", "alpine"}), UsageError);
  EXPECT_THROW(build({"--cpus", "x", "alpine"}), UsageError);
  EXPECT_THROW(build({"--env-file", "/nonexistent/env", "alpine"}), SystemError);
  EXPECT_THROW(build({"-v", "relative", "alpine"}), UsageError);
}

TEST(CreateBody, PublishAndRestartSpecs) {
  auto ports = parse_publish("8000-8001:80-81/udp");
  ASSERT_EQ(ports.size(), 2U);
  EXPECT_EQ(ports[1].container_port, "81/udp");
  EXPECT_EQ(ports[1].host_port, "8001");
  auto v6 = parse_publish("[::1]:80:8080");
  ASSERT_EQ(v6.size(), 1U);
  EXPECT_EQ(v6[0].host_ip, "::1");
  EXPECT_EQ(v6[0].container_port, "8080/tcp");
  EXPECT_EQ(parse_restart_policy("on-failure:3"),
            nlohmann::json::parse(R"({"Name":"on-failure","MaximumRetryCount":3})"));
  EXPECT_EQ(parse_restart_policy("unless-stopped")["Name"], "unless-stopped");
  EXPECT_THROW(parse_restart_policy("always:3"), UsageError);
}

// ------------------------------------------------------------------- frames

TEST(Frames, DemuxAcrossArbitraryPieces) {
  std::string wire = make_frame(StdStream::kStdout, "hello ") + make_frame(StdStream::kStderr, "oops\n") +
                     make_frame(StdStream::kStdout, std::string(70000, 'x')) +
                     make_frame(StdStream::kStdout, "");
  for (std::size_t step : {1UL, 3UL, 7UL, 4096UL, wire.size()}) {
    std::string out, err;
    FrameDemuxer d(
        [&](StdStream s, std::string_view data) { (s == StdStream::kStdout ? out : err).append(data); });
    for (std::size_t i = 0; i < wire.size(); i += step) d.feed(std::string_view(wire).substr(i, step));
    EXPECT_EQ(out, "hello " + std::string(70000, 'x')) << step;
    EXPECT_EQ(err, "oops\n") << step;
    EXPECT_FALSE(d.pending());
  }
  FrameDemuxer partial([](StdStream, std::string_view) {});
  partial.feed(make_frame(StdStream::kStdout, "abc").substr(0, 9));
  EXPECT_TRUE(partial.pending());
  FrameDemuxer bad([](StdStream, std::string_view) {});
  EXPECT_THROW(bad.feed(std::string("\x07\0\0\0\0\0\0\x01z", 9)), Error);
}

// ------------------------------------------------------------------- run

TEST(Run, ForegroundPrintsBothStreamsAndExitsWithTheCode) {
  bool removed = false;
  Daemon d(run_route(make_frame(StdStream::kStdout, "hi\n") + make_frame(StdStream::kStderr, "warn\n"), 3,
                     &removed));
  Outcome o = run_cli(d.argv({"run", "--rm", "-m", "64m", "-e", "A=b", "alpine", "sh", "-c", "exit 3"}));
  EXPECT_EQ(o.rc, 3) << o.err;
  EXPECT_EQ(o.out, "hi\n");
  EXPECT_EQ(o.err, "warn\n");
  EXPECT_TRUE(removed) << "--rm waits for condition=removed";
  auto creates = d.requests("/containers/create");
  ASSERT_EQ(creates.size(), 1U);
  auto body = nlohmann::json::parse(creates[0].body);
  EXPECT_EQ(body["HostConfig"]["Memory"], 67108864);
  EXPECT_EQ(body["HostConfig"]["AutoRemove"], true);
  EXPECT_EQ(body["Env"], nlohmann::json({"A=b"}));
  EXPECT_EQ(body["Cmd"], nlohmann::json({"sh", "-c", "exit 3"}));
  auto attach = d.requests("/containers/" + kCid + "/attach");
  ASSERT_EQ(attach.size(), 1U);
  EXPECT_EQ(attach[0].headers["upgrade"], "tcp");
  EXPECT_THAT(attach[0].path, HasSubstr("stdout=1"));
  EXPECT_THAT(attach[0].path, ::testing::Not(HasSubstr("stdin=1")));
  // Order: attach and wait are in place before the start.
  std::vector<std::string> order;
  for (const auto& r : d.server.requests())
    order.push_back(r.method + " " + r.path.substr(0, r.path.find('?')));
  auto pos = [&](const std::string& s) { return std::find(order.begin(), order.end(), s) - order.begin(); };
  EXPECT_LT(pos("POST /v1.47/containers/" + kCid + "/wait"),
            pos("POST /v1.47/containers/" + kCid + "/start"));
  EXPECT_LT(pos("POST /v1.47/containers/" + kCid + "/attach"),
            pos("POST /v1.47/containers/" + kCid + "/start"));
}

TEST(Run, DetachPrintsTheId) {
  Daemon d(run_route("", 0));
  Outcome o = run_cli(d.argv({"run", "-d", "--name", "web", "alpine", "sleep", "9"}));
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, kCid + "\n");
  auto creates = d.requests("/containers/create");
  ASSERT_EQ(creates.size(), 1U);
  EXPECT_THAT(creates[0].path, HasSubstr("name=web"));
  EXPECT_EQ(nlohmann::json::parse(creates[0].body)["AttachStdout"], false);
  EXPECT_TRUE(d.requests("/containers/" + kCid + "/attach").empty());
}

TEST(Run, StdinIsForwardedAndHalfClosed) {
  std::thread echo;
  Daemon d([&](const FakeRequest& r, const std::string& p, int fd) {
    if (p.starts_with("/containers/" + kCid + "/attach")) {
      // Reads stdin to its EOF (the CLI's half-close) on a thread, then echoes it framed.
      int conn = ::dup(fd);
      echo = std::thread([conn] {
        std::string in;
        char buf[256];
        for (ssize_t n; (n = ::recv(conn, buf, sizeof buf, 0)) > 0;)
          in.append(buf, static_cast<std::size_t>(n));
        std::string f = make_frame(StdStream::kStdout, in);
        [[maybe_unused]] ssize_t w = ::send(conn, f.data(), f.size(), MSG_NOSIGNAL);
        ::close(conn);
      });
      return hijack_head();
    }
    return run_route("", 0)(r, p, fd);
  });
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "abc\n", 4), 4);
  ::close(fds[1]);
  Outcome o = run_cli(d.argv({"run", "-i", "alpine", "cat"}), {}, fds[0]);
  ::close(fds[0]);
  if (echo.joinable()) echo.join();
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, "abc\n");
  auto attach = d.requests("/containers/" + kCid + "/attach");
  ASSERT_EQ(attach.size(), 1U);
  EXPECT_THAT(attach[0].path, HasSubstr("stdin=1"));
  EXPECT_EQ(nlohmann::json::parse(d.requests("/containers/create")[0].body)["OpenStdin"], true);
}

TEST(Run, MissingImageIsPulledThenCreated) {
  int creates = 0;
  Daemon d([&](const FakeRequest& r, const std::string& p, int fd) {
    if (p.starts_with("/containers/create") && creates++ == 0) {
      return http_response(404, error_json("No such image: nosuch:latest"));
    }
    if (p.starts_with("/images/create")) {
      return http_response(200,
                           "{\"status\":\"Pulling from library/nosuch\",\"id\":\"latest\"}\n"
                           "{\"status\":\"Status: Downloaded newer image for nosuch:latest\"}\n");
    }
    return run_route(make_frame(StdStream::kStdout, "ok\n"), 0)(r, p, fd);
  });
  Outcome o = run_cli(d.argv({"run", "nosuch", "true"}));
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, "ok\n");
  EXPECT_THAT(o.err, HasSubstr("Unable to find image 'nosuch:latest' locally\n"));
  EXPECT_THAT(o.err, HasSubstr("Downloaded newer image"));
  EXPECT_EQ(creates, 2);
  EXPECT_EQ(d.requests("/images/create").size(), 1U);
}

TEST(Run, DaemonErrorsExit125AndStartErrorsMapLikeDocker) {
  Daemon bad([](const FakeRequest&, const std::string&, int) {
    return http_response(500, error_json("storage is broken"));
  });
  Outcome o = run_cli(bad.argv({"run", "alpine", "true"}));
  EXPECT_EQ(o.rc, 125);
  EXPECT_THAT(o.err, HasSubstr("Error response from daemon: storage is broken"));
  Outcome c = run_cli(bad.argv({"create", "alpine"}));
  EXPECT_EQ(c.rc, 125);
  Daemon notfound([](const FakeRequest& r, const std::string& p, int fd) {
    if (p.ends_with("/start")) {
      return http_response(
          400, error_json("failed to create task: exec: \"nosuch\": executable file not found in $PATH"));
    }
    return run_route("", 0)(r, p, fd);
  });
  o = run_cli(notfound.argv({"run", "alpine", "nosuch"}));
  EXPECT_EQ(o.rc, 127) << o.err;
  o = run_cli(notfound.argv({"run", "-d", "alpine", "nosuch"}));
  EXPECT_EQ(o.rc, 127) << o.err;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(start_error_code("exec /etc/passwd: permission denied"), 126);
  EXPECT_EQ(start_error_code("something else"), 125);
}

// ------------------------------------------------------------------- other verbs

TEST(Containers, MissingContainerIsDockersErrorAndExit1) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    std::string name = p.substr(12, p.find_first_of("/?", 12) - 12);
    if (name == "ok") return http_response(204, "");
    return http_response(404, error_json("No such container: " + name));
  });
  for (const char* verb : {"stop", "kill", "restart", "rm", "start"}) {
    Outcome o = run_cli(d.argv({verb, "ok", "x"}));
    EXPECT_EQ(o.rc, 1) << verb;
    EXPECT_EQ(o.out, "ok\n") << verb;
    EXPECT_THAT(o.err, HasSubstr("Error response from daemon: No such container: x\n")) << verb;
  }
  Outcome o = run_cli(d.argv({"logs", "x"}));
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.err, "Error response from daemon: No such container: x\n");
  run_cli(d.argv({"stop", "-t", "3", "ok"}));
  run_cli(d.argv({"kill", "-s", "HUP", "ok"}));
  run_cli(d.argv({"rm", "-f", "-v", "ok"}));
  auto paths = [&](const std::string& prefix) {
    std::vector<std::string> out;
    for (auto& r : d.requests(prefix)) out.push_back(r.method + " " + r.path.substr(6));
    return out;
  };
  auto ok = paths("/containers/ok");
  EXPECT_THAT(ok, ::testing::Contains("POST /containers/ok/stop?t=3"));
  EXPECT_THAT(ok, ::testing::Contains("POST /containers/ok/kill?signal=HUP"));
  EXPECT_THAT(ok, ::testing::Contains("DELETE /containers/ok?force=1&v=1"));
}

TEST(Containers, LogsSplitsStreams) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    if (p == "/containers/w/json")
      return http_response(200, "{\"Id\":\"" + kCid + "\",\"Config\":{\"Tty\":false}}");
    if (p.starts_with("/containers/" + kCid + "/logs")) {
      return http_response(
          200, make_frame(StdStream::kStdout, "out 0\n") + make_frame(StdStream::kStderr, "err 0\n"), {},
          "application/vnd.docker.multiplexed-stream");
    }
    return http_response(404, error_json("no"));
  });
  Outcome o = run_cli(d.argv({"logs", "-t", "--tail", "5", "--since", "1700000000", "w"}));
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, "out 0\n");
  EXPECT_EQ(o.err, "err 0\n");
  auto logs = d.requests("/containers/" + kCid + "/logs");
  ASSERT_EQ(logs.size(), 1U);
  EXPECT_THAT(logs[0].path, HasSubstr("timestamps=1"));
  EXPECT_THAT(logs[0].path, HasSubstr("tail=5"));
  EXPECT_THAT(logs[0].path, HasSubstr("since=1700000000"));
  EXPECT_EQ(run_cli(d.argv({"logs", "--since", "yesterday-ish", "w"})).rc, 125);
}

TEST(Containers, ExecReturnsTheExecExitCode) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    if (p == "/containers/c1/exec") return http_response(201, "{\"Id\":\"e1\"}");
    if (p == "/exec/e1/start") return hijack_head() + make_frame(StdStream::kStdout, "inside\n");
    if (p == "/exec/e1/json") return http_response(200, "{\"ID\":\"e1\",\"Running\":false,\"ExitCode\":5}");
    return http_response(404, error_json("No such container: nope"));
  });
  Outcome o =
      run_cli(d.argv({"exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "c1", "sh", "-c", "exit 5"}));
  EXPECT_EQ(o.rc, 5) << o.err;
  EXPECT_EQ(o.out, "inside\n");
  auto create = nlohmann::json::parse(d.requests("/containers/c1/exec")[0].body);
  EXPECT_EQ(create["Cmd"], nlohmann::json({"sh", "-c", "exit 5"}));
  EXPECT_EQ(create["User"], "nobody");
  EXPECT_EQ(create["WorkingDir"], "/tmp");
  EXPECT_EQ(create["Env"], nlohmann::json({"X=1"}));
  EXPECT_EQ(nlohmann::json::parse(d.requests("/exec/e1/start")[0].body)["Detach"], false);
  Outcome missing = run_cli(d.argv({"exec", "nope", "true"}));
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "Error response from daemon: No such container: nope\n");
}

TEST(Containers, InspectFallsBackToImagesAndReportsMissing) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    if (p == "/containers/c1/json") return http_response(200, "{\"Id\":\"c1\",\"State\":{\"ExitCode\":3}}");
    if (p == "/images/alpine/json") return http_response(200, "{\"Id\":\"sha256:aa\"}");
    return http_response(404, error_json("not found"));
  });
  Outcome o = run_cli(d.argv({"inspect", "c1", "alpine", "ghost"}));
  EXPECT_EQ(o.rc, 1);
  auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j.size(), 2U);
  EXPECT_EQ(j[0]["Id"], "c1");
  EXPECT_EQ(j[1]["Id"], "sha256:aa");
  EXPECT_EQ(o.err, "Error: No such object: ghost\n");
  Outcome f = run_cli(d.argv({"inspect", "-f", "{{.State.ExitCode}}", "c1"}));
  EXPECT_EQ(f.out, "3\n");
}

TEST(Containers, CommitAndWaitAndPort) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    if (p.starts_with("/commit"))
      return http_response(201, "{\"Id\":\"sha256:" + std::string(64, 'f') + "\"}");
    if (p == "/containers/c1/wait") return http_response(200, "{\"StatusCode\":7}");
    if (p == "/containers/c1/json") {
      return http_response(
          200,
          R"({"Id":"c1","NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}}})");
    }
    return http_response(404, error_json("No such container: x"));
  });
  Outcome c = run_cli(d.argv({"commit", "-m", "msg", "c1", "myimg:v2"}));
  EXPECT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.out, "sha256:" + std::string(64, 'f') + "\n");
  std::string path = d.requests("/commit")[0].path;
  EXPECT_THAT(path, HasSubstr("container=c1"));
  EXPECT_THAT(path, HasSubstr("repo=docker.io%2Flibrary%2Fmyimg"));
  EXPECT_THAT(path, HasSubstr("tag=v2"));
  EXPECT_THAT(path, HasSubstr("comment=msg"));
  Outcome w = run_cli(d.argv({"wait", "c1"}));
  EXPECT_EQ(w.rc, 0) << w.err;
  EXPECT_EQ(w.out, "7\n");
  Outcome p = run_cli(d.argv({"port", "c1"}));
  EXPECT_EQ(p.out, "80/tcp -> 0.0.0.0:8080\n");
  EXPECT_EQ(run_cli(d.argv({"port", "c1", "80"})).out, "0.0.0.0:8080\n");
  EXPECT_EQ(run_cli(d.argv({"port", "c1", "81"})).rc, 1);
}

TEST(Containers, VolumeVerbs) {
  Daemon d([](const FakeRequest&, const std::string& p, int) {
    if (p == "/volumes")
      return http_response(200, R"({"Volumes":[{"Name":"data","Driver":"local"}],"Warnings":null})");
    if (p == "/volumes/create") return http_response(201, R"({"Name":"v1","Driver":"local"})");
    if (p == "/volumes/data")
      return http_response(200, R"({"Name":"data","Driver":"local","Mountpoint":"/x"})");
    return http_response(404, error_json("get ghost: no such volume"));
  });
  EXPECT_EQ(run_cli(d.argv({"volume", "ls"})).out, "DRIVER    VOLUME NAME\nlocal     data\n");
  EXPECT_EQ(run_cli(d.argv({"volume", "ls", "-q"})).out, "data\n");
  EXPECT_EQ(run_cli(d.argv({"volume", "create", "-l", "a=b", "v1"})).out, "v1\n");
  auto body = nlohmann::json::parse(d.requests("/volumes/create")[0].body);
  EXPECT_EQ(body["Name"], "v1");
  EXPECT_EQ(body["Labels"]["a"], "b");
  auto insp = run_cli(d.argv({"volume", "inspect", "data"}));
  EXPECT_EQ(nlohmann::json::parse(insp.out)[0]["Mountpoint"], "/x");
  auto rm = run_cli(d.argv({"volume", "rm", "ghost"}));
  EXPECT_EQ(rm.rc, 1);
  EXPECT_THAT(rm.err, HasSubstr("Error response from daemon: get ghost: no such volume"));
}

// ------------------------------------------------------------------- tables

TEST(Tables, PsLikeDocker) {
  auto list = nlohmann::json::parse(
      R"([
    {"Id":")" +
      kCid + R"(","Names":["/web"],"Image":"alpine","Command":"sh -c 'while true; do sleep 1; done'",
     "Created":1000,"State":"running","Status":"Up 5 minutes",
     "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"PrivatePort":443,"Type":"tcp"}]},
    {"Id":")" +
      std::string(64, 'd') + R"(","Names":["/old"],"Image":"alpine","Command":"true",
     "Created":0,"State":"exited","Status":"Exited (3) 2 hours ago","Ports":[]}])");
  std::string t = format_container_list(list, {}, 1000 + 300);
  EXPECT_EQ(t,
            "CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS                   "
            "PORTS                           NAMES\n"
            "cccccccccccc   alpine    \"sh -c 'while true; …\"   5 minutes ago    Up 5 minutes             "
            "0.0.0.0:8080->80/tcp, 443/tcp   web\n"
            "dddddddddddd   alpine    \"true\"                   21 minutes ago   Exited (3) 2 hours ago     "
            "                              old\n");
  EXPECT_EQ(format_container_list(list, {.quiet = true}, 0), "cccccccccccc\ndddddddddddd\n");
  std::string full = format_container_list(list, {.no_trunc = true}, 0);
  EXPECT_THAT(full, HasSubstr(kCid));
  EXPECT_THAT(full, HasSubstr("\"sh -c 'while true; do sleep 1; done'\""));
  EXPECT_EQ(format_container_list(list, {.format = "{{.Names}} {{.Status}}"}, 0),
            "web Up 5 minutes\nold Exited (3) 2 hours ago\n");
}

TEST(Tables, StatsFromADockerSample) {
  auto s = nlohmann::json::parse(R"({"id":")" + kCid + R"(","name":"/web",
    "cpu_stats":{"cpu_usage":{"total_usage":300000000},"system_cpu_usage":2000000000,"online_cpus":2},
    "precpu_stats":{"cpu_usage":{"total_usage":100000000},"system_cpu_usage":1000000000},
    "memory_stats":{"usage":10485760,"limit":104857600,"stats":{"total_inactive_file":5242880}},
    "networks":{"eth0":{"rx_bytes":1500,"tx_bytes":0}},
    "blkio_stats":{"io_service_bytes_recursive":[{"op":"Read","value":4096},{"op":"Write","value":2000000}]},
    "pids_stats":{"current":3}})");
  StatsRow r = stats_row(s);
  EXPECT_DOUBLE_EQ(r.cpu_percent, 40.0);
  EXPECT_DOUBLE_EQ(r.mem_usage, 5242880);
  EXPECT_DOUBLE_EQ(r.mem_percent, 5.0);
  r.id = r.id.substr(0, 12);
  EXPECT_EQ(
      format_stats({r}),
      "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O     PIDS\n"
      "cccccccccccc   web       40.00%    5MiB / 100MiB       5.00%     1.5kB / 0B   4.1kB / 2MB   3\n");
}

}  // namespace
}  // namespace bocker::cli
