// exec, commit, stats and restart policies through the real docker CLI (and curl for the raw
// API) against a real bockerd (root; Alpine imported with `bocker import`): exec joins every
// namespace and the cgroup of the container, takes -u/-w/-e/-i/-t and reports exit codes;
// commit → run round trip on both storage drivers; `docker stats --no-stream`; on-failure:N,
// always, stop and daemon-start restarts; 400/404/409 for bad input.
#include <ctime>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using namespace std::chrono_literals;

class ExecBase {
 protected:
  // Returns "" or why the daemon could not be set up.
  std::string setup(Storage s) {
    root_ = std::make_unique<TestRoot>(s);
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", root_->driver()});
    std::string err = d_->start();
    if (!err.empty()) return err;
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    return imp.status == 0 ? "" : imp.out;
  }
  void teardown() {
    if (d_) {
      run(d_->docker("rm -f $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    root_.reset();
  }
  CmdResult docker(const std::string& args) { return run("timeout 60 env " + d_->docker(args)); }
  // docker `args` exits 0 (the output in the failure message otherwise).
  ::testing::AssertionResult ok(const std::string& args) {
    CmdResult r = docker(args);
    if (r.status == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "docker " << args << " exited " << r.status << ": " << r.out;
  }
  // docker `args` fails and says `text`.
  ::testing::AssertionResult refused(const std::string& args, const std::string& text) {
    CmdResult r = docker(args);
    if (r.status != 0 && r.out.find(text) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "docker " << args << " exited " << r.status << " without \"" << text
                                         << "\": " << r.out;
  }
  std::string state(const std::string& name, const std::string& format) {
    return docker("inspect --format '" + format + "' " + name).out;
  }
  // Polls `format` of container `name` until it prints `want` (up to `limit`).
  bool wait_for(const std::string& name, const std::string& format, const std::string& want,
                std::chrono::milliseconds limit = 15s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (state(name, format) == want) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

#define BOCKER_REQUIRE_DOCKER()                                                        \
  do {                                                                                 \
    if (!have("docker")) GTEST_SKIP() << "no docker CLI (/usr/local/bin/docker) here"; \
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";     \
  } while (0)

class Exec : public ::testing::Test, protected ExecBase {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(Storage::kOverlay2);
    BOCKER_REQUIRE_DOCKER();
    ASSERT_EQ(setup(Storage::kOverlay2), "");
  }
  void TearDown() override { teardown(); }
};

TEST_F(Exec, JoinsEveryNamespaceAndTheCgroup) {
  ASSERT_TRUE(ok("run --network none -d --name x alpine sleep 1000"));
  std::string pid = state("x", "{{.State.Pid}}");
  ASSERT_FALSE(pid.empty());
  pid.pop_back();
  ASSERT_NE(pid, "0");
  auto inside = docker("exec x sh -c 'for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done'");
  ASSERT_EQ(inside.status, 0) << inside.out;
  std::string host;
  for (const char* ns : {"mnt", "uts", "ipc", "net", "pid", "cgroup"}) {
    host += fs::read_symlink("/proc/" + pid + "/ns/" + ns).string() + "\n";
  }
  EXPECT_EQ(inside.out, host);
  // Not the daemon's namespaces.
  EXPECT_NE(fs::read_symlink("/proc/self/ns/mnt").string() + "\n", inside.out.substr(0, inside.out.find('\n') + 1));
  // The same cgroup as PID 1 in every hierarchy.
  auto self_cg = docker("exec x cat /proc/self/cgroup");
  auto pid1_cg = docker("exec x cat /proc/1/cgroup");
  ASSERT_EQ(self_cg.status, 0) << self_cg.out;
  EXPECT_EQ(self_cg.out, pid1_cg.out);
  // From the host: a background exec process is listed in the container's cgroup.
  ASSERT_TRUE(ok("exec -d x sleep 77"));
  std::string host_cg = read_file("/proc/" + pid + "/cgroup");
  std::size_t at = host_cg.find(":pids:");
  ASSERT_NE(at, std::string::npos) << host_cg;
  std::string line = host_cg.substr(at, host_cg.find('\n', at) - at);
  std::string path = line.substr(line.rfind(':') + 1);
  ASSERT_NE(path.find("/bocker/"), std::string::npos) << host_cg;
  bool found = false;
  for (int i = 0; i < 50 && !found; ++i) {
    auto procs = run("for p in $(cat /sys/fs/cgroup/pids" + path + "/cgroup.procs /sys/fs/cgroup/memory" + path +
                     "/cgroup.procs 2>/dev/null | sort -u); do cat /proc/$p/cmdline | tr '\\0' ' '; echo; done");
    found = procs.out.find("sleep 77") != std::string::npos;
    if (!found) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(found) << "the detached exec process is in the container's cgroup";
}

TEST_F(Exec, ExitCodesUserWorkdirEnvStdinAndTty) {
  ASSERT_TRUE(ok("run --network none -d --name x -e BASE=one -w /etc alpine sleep 1000"));
  EXPECT_EQ(docker("exec x sh -c 'exit 7'").status, 7);
  EXPECT_TRUE(ok("exec x true"));
  auto missing = docker("exec x nosuchcmd");
  EXPECT_EQ(missing.status, 127) << missing.out;
  auto defaults = docker("exec x sh -c 'id -un; pwd; echo $BASE'");
  EXPECT_EQ(defaults.out, "root\n/etc\none\n") << "the container's user, workdir and env are the defaults";
  auto over = docker("exec -u nobody -w /tmp -e FOO=bar -e BASE=two x sh -c 'id -un; pwd; echo $FOO $BASE'");
  EXPECT_EQ(over.status, 0) << over.out;
  EXPECT_EQ(over.out, "nobody\n/tmp\nbar two\n");
  auto in = run("printf 'hello\\nworld\\n' | timeout 30 env " + d_->docker("exec -i x sh -c 'cat; echo done'"));
  EXPECT_EQ(in.status, 0) << in.out;
  EXPECT_EQ(in.out, "hello\nworld\ndone\n") << "stdin reaches the process and its end closes the process's stdin";
  auto streams = run("(timeout 30 env " + d_->docker("exec x sh -c 'echo out; echo err >&2'") + " 2>/dev/null)");
  EXPECT_EQ(streams.out, "out\n") << "stderr is framed apart from stdout";
  auto tty = docker("exec -t x tty");
  EXPECT_EQ(tty.status, 0) << tty.out;
  EXPECT_NE(tty.out.find("/dev/pts/"), std::string::npos) << tty.out;
  // The exec inspect the CLI reads.
  auto created = run(d_->curl("POST", "/containers/x/exec",
                              "-H 'Content-Type: application/json' -d '{\"Cmd\":[\"sh\",\"-c\",\"exit 4\"]}'"));
  ASSERT_NE(created.out.find("HTTP 201"), std::string::npos) << created.out;
  std::string eid = nlohmann::json::parse(created.out.substr(0, created.out.rfind('\n')))["Id"];
  auto b = run(d_->curl("GET", "/exec/" + eid + "/json"));
  auto before = nlohmann::json::parse(b.out.substr(0, b.out.rfind('\n')));
  EXPECT_EQ(before["Running"], false);
  EXPECT_TRUE(before["ExitCode"].is_null());
  EXPECT_EQ(before["ProcessConfig"]["entrypoint"], "sh");
  auto started = run(d_->curl("POST", "/exec/" + eid + "/start",
                              "-H 'Content-Type: application/json' -d '{\"Detach\":true}'"));
  EXPECT_NE(started.out.find("HTTP 200"), std::string::npos) << started.out;
  nlohmann::json after;
  for (int i = 0; i < 50; ++i) {
    auto r = run(d_->curl("GET", "/exec/" + eid + "/json"));
    after = nlohmann::json::parse(r.out.substr(0, r.out.rfind('\n')));
    if (!after["ExitCode"].is_null()) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after["ExitCode"], 4);
  EXPECT_EQ(after["ContainerID"].get<std::string>().size(), 64U);
  auto again = run(d_->curl("POST", "/exec/" + eid + "/start", "-H 'Content-Type: application/json' -d '{\"Detach\":true}'"));
  EXPECT_NE(again.out.find("HTTP 409"), std::string::npos) << again.out;
}

TEST_F(Exec, PauseFreezesUnpauseResumesAndAPausedContainerStillStops) {
  ASSERT_TRUE(ok("run --network none -d --name p alpine sh -c 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done'"));
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(ok("pause p"));
  EXPECT_EQ(state("p", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"), "paused true true\n");
  auto ps = docker("ps --format '{{.Names}} {{.State}} {{.Status}}'");
  EXPECT_NE(ps.out.find("p paused Up"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("(Paused)"), std::string::npos) << ps.out;
  auto info = docker("info --format '{{.ContainersPaused}} {{.ContainersRunning}}'");
  EXPECT_EQ(info.out, "1 0\n");
  // Frozen: no new output.
  std::this_thread::sleep_for(200ms);
  std::string frozen_logs = docker("logs p").out;
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(docker("logs p").out, frozen_logs) << "a paused container wrote output";
  EXPECT_TRUE(refused("pause p", "already paused"));
  EXPECT_TRUE(refused("exec p true", "is paused"));
  ASSERT_TRUE(ok("unpause p"));
  EXPECT_EQ(state("p", "{{.State.Status}} {{.State.Paused}}"), "running false\n");
  std::this_thread::sleep_for(400ms);
  EXPECT_GT(docker("logs p").out.size(), frozen_logs.size()) << "unpaused, it writes again";
  EXPECT_TRUE(refused("unpause p", "is not paused"));
  // A paused container still stops: SIGTERM waits for the thaw, the SIGKILL after -t thaws it.
  ASSERT_TRUE(ok("pause p"));
  ASSERT_TRUE(ok("stop -t 1 p"));
  EXPECT_EQ(state("p", "{{.State.Status}} {{.State.Paused}}"), "exited false\n");
  // And rm -f of a paused one.
  ASSERT_TRUE(ok("run --network none -d --name q alpine sleep 1000"));
  ASSERT_TRUE(ok("pause q"));
  ASSERT_TRUE(ok("rm -f q"));
  EXPECT_NE(docker("inspect q").status, 0);
  EXPECT_TRUE(refused("pause p", "is not running"));
}

TEST_F(Exec, TopRenameAndContainerPrune) {
  ASSERT_TRUE(ok("run --network none -d --name t alpine sh -c 'sleep 1000 & exec sleep 1001'"));
  ASSERT_TRUE(ok("run --network none --name done alpine true"));
  ASSERT_TRUE(ok("create --network none --name kept --label keep=1 alpine true"));
  // top: ps's table, only the container's processes.
  auto top = docker("top t");
  EXPECT_EQ(top.status, 0) << top.out;
  EXPECT_NE(top.out.find("PID"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("sleep 1000"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("sleep 1001"), std::string::npos) << top.out;
  EXPECT_EQ(top.out.find("bockerd"), std::string::npos) << "only the container's processes: " << top.out;
  auto cols = docker("top t -o pid,comm");
  EXPECT_EQ(cols.out.substr(0, cols.out.find('\n')).find("COMMAND"), cols.out.find("COMMAND")) << cols.out;
  EXPECT_EQ(std::count(cols.out.begin(), cols.out.end(), '\n'), 3) << cols.out;
  EXPECT_TRUE(refused("top done", "is not running"));
  // rename: the new name finds it, the old one no longer; taken and bad names are refused.
  ASSERT_TRUE(ok("rename t t2"));
  EXPECT_EQ(state("t2", "{{.Name}}"), "/t2\n");
  EXPECT_NE(docker("inspect t").status, 0);
  EXPECT_TRUE(refused("rename done t2", "already in use"));
  EXPECT_TRUE(refused("rename done 'no spaces'", "Invalid container name"));
  EXPECT_EQ(state("done", "{{.Name}}"), "/done\n") << "a refused rename changes nothing";
  // prune: stopped containers go, running ones and those the filter spares stay.
  auto pruned = docker("container prune -f --filter label!=keep");
  EXPECT_EQ(pruned.status, 0) << pruned.out;
  EXPECT_NE(pruned.out.find("Deleted Containers"), std::string::npos) << pruned.out;
  EXPECT_NE(docker("inspect done").status, 0);
  EXPECT_TRUE(ok("inspect kept"));
  EXPECT_TRUE(ok("inspect t2"));
  EXPECT_TRUE(refused("container prune -f --filter until=1h", "invalid filter"));
}

TEST_F(Exec, EventsStreamTheContainerLifecycle) {
  std::string live = root_->dir() + "/events.live";
  // A live stream, started before the container: docker events until it times out.
  auto bg = run("(timeout 6 env " + d_->docker("events --filter container=ev --format '{{.Action}} {{.Actor.Attributes.name}}'") +
                " > " + live + " 2>&1 &) ; sleep 1");
  ASSERT_EQ(bg.status, 0) << bg.out;
  long t0 = static_cast<long>(std::time(nullptr)) - 1;
  EXPECT_EQ(docker("run --network none --name ev alpine sh -c 'exit 3'").status, 3);
  ASSERT_TRUE(ok("rm ev"));
  std::string want = "create ev\nstart ev\ndie ev\ndestroy ev\n";
  // The kept ones, replayed with --since, with the exit code.
  long until = static_cast<long>(std::time(nullptr)) + 1;
  auto past = docker("events --since " + std::to_string(t0) + " --until " + std::to_string(until) +
                     " --filter container=ev --format '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}'");
  EXPECT_EQ(past.status, 0) << past.out;
  EXPECT_EQ(past.out, "create ev <no value>\nstart ev <no value>\ndie ev 3\ndestroy ev <no value>\n");
  std::string got;
  for (int i = 0; i < 80 && got != want; ++i) {
    std::this_thread::sleep_for(100ms);
    got = read_file(live);
  }
  EXPECT_EQ(got, want) << "the live stream";
  EXPECT_TRUE(refused("events --filter nosuch=1 --until 1", "invalid filter"));
}

TEST_F(Exec, BadInput) {
  ASSERT_TRUE(ok("create --network none --name stopped alpine true"));
  auto r = run(d_->curl("POST", "/containers/stopped/exec", "-H 'Content-Type: application/json' -d '{\"Cmd\":[\"true\"]}'"));
  EXPECT_NE(r.out.find("HTTP 409"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is not running"), std::string::npos) << r.out;
  EXPECT_TRUE(refused("exec stopped true", "is not running"));
  auto nocontainer = run(d_->curl("POST", "/containers/nope/exec", "-H 'Content-Type: application/json' -d '{\"Cmd\":[\"true\"]}'"));
  EXPECT_NE(nocontainer.out.find("HTTP 404"), std::string::npos) << nocontainer.out;
  auto noexec = run(d_->curl("GET", "/exec/nope/json"));
  EXPECT_NE(noexec.out.find("HTTP 404"), std::string::npos) << noexec.out;
  ASSERT_TRUE(ok("run --network none -d --name x alpine sleep 1000"));
  auto nocmd = run(d_->curl("POST", "/containers/x/exec", "-H 'Content-Type: application/json' -d '{\"Cmd\":[]}'"));
  EXPECT_NE(nocmd.out.find("HTTP 400"), std::string::npos) << nocmd.out;
  auto badenv = run(d_->curl("POST", "/containers/x/exec", "-H 'Content-Type: application/json' -d '{\"Cmd\":[\"true\"],\"Env\":[5]}'"));
  EXPECT_NE(badenv.out.find("HTTP 400"), std::string::npos) << badenv.out;
}

TEST_F(Exec, StatsNoStreamAndJson) {
  ASSERT_TRUE(ok("run --network none -d --name x alpine sh -c 'while true; do :; done'"));
  ASSERT_TRUE(ok("create --network none --name idle alpine true"));
  auto t0 = std::chrono::steady_clock::now();
  auto row = docker("stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}' x");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  ASSERT_EQ(row.status, 0) << row.out;
  EXPECT_THAT(row.out, ::testing::MatchesRegex("x [0-9]+\\.[0-9]+% [0-9.]+[KMG]?i?B / [0-9.]+[KMGT]iB [0-9]+\n"));
  // A busy loop shows real CPU use (the CLI divides by the host's CPU time over the same second).
  double cpu = std::stod(row.out.substr(2, row.out.find('%') - 2));
  EXPECT_GT(cpu, 20.0) << row.out;
  auto raw = run(d_->curl("GET", "/containers/x/stats?stream=false"));
  ASSERT_NE(raw.out.find("HTTP 200"), std::string::npos) << raw.out;
  auto j = nlohmann::json::parse(raw.out.substr(0, raw.out.rfind('\n')));
  EXPECT_EQ(j["name"], "/x");
  EXPECT_GT(j["cpu_stats"]["cpu_usage"]["total_usage"].get<std::uint64_t>(),
            j["precpu_stats"]["cpu_usage"]["total_usage"].get<std::uint64_t>());
  EXPECT_GT(j["cpu_stats"]["system_cpu_usage"].get<std::uint64_t>(),
            j["precpu_stats"]["system_cpu_usage"].get<std::uint64_t>());
  EXPECT_GE(j["cpu_stats"]["online_cpus"].get<int>(), 1);
  EXPECT_GT(j["memory_stats"]["usage"].get<std::uint64_t>(), 0U);
  EXPECT_GT(j["memory_stats"]["limit"].get<std::uint64_t>(), 1ULL << 20);
  EXPECT_TRUE(j["memory_stats"]["stats"].contains("inactive_file"));
  EXPECT_GE(j["pids_stats"]["current"].get<int>(), 1);
  EXPECT_TRUE(j["networks"].contains("eth0") || j["networks"].empty()) << j["networks"].dump();
  // Streamed: one document per second.
  auto streamed = run("timeout 2.5 " + d_->curl("GET", "/containers/x/stats?stream=true", "-N") + " | grep -c '\"read\"'");
  EXPECT_GE(std::stoi(streamed.out), 2) << streamed.out;
  // A container that is not running: zeros.
  auto idle = run(d_->curl("GET", "/containers/idle/stats?stream=false"));
  ASSERT_NE(idle.out.find("HTTP 200"), std::string::npos) << idle.out;
  auto z = nlohmann::json::parse(idle.out.substr(0, idle.out.rfind('\n')));
  EXPECT_EQ(z["cpu_stats"]["cpu_usage"]["total_usage"], 0);
  EXPECT_EQ(z["pids_stats"]["current"], 0);
  auto missing = run(d_->curl("GET", "/containers/nope/stats?stream=false"));
  EXPECT_NE(missing.out.find("HTTP 404"), std::string::npos) << missing.out;
}

TEST_F(Exec, RestartPolicies) {
  // on-failure:2: exactly two restarts of a failing command.
  ASSERT_TRUE(ok("run --network none -d --name f --restart on-failure:2 alpine sh -c 'exit 3'"));
  EXPECT_TRUE(wait_for("f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "exited 2 3\n"))
      << state("f", "{{.State.Status}} {{.RestartCount}}");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(state("f", "{{.State.Status}} {{.RestartCount}}"), "exited 2\n");
  // on-failure does not restart a success.
  ASSERT_TRUE(ok("run --network none -d --name ok --restart on-failure alpine true"));
  EXPECT_TRUE(wait_for("ok", "{{.State.Status}}", "exited\n"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(state("ok", "{{.RestartCount}}"), "0\n");
  // always: restarts until stopped; the stop ends it for good.
  ASSERT_TRUE(ok("run --network none -d --name a --restart always alpine sh -c 'sleep 0.2'"));
  auto end = std::chrono::steady_clock::now() + 15s;
  int count = 0;
  while (std::chrono::steady_clock::now() < end && count < 3) {
    std::string s = state("a", "{{.RestartCount}}");
    count = s.empty() ? 0 : std::stoi(s);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(count, 3);
  EXPECT_TRUE(ok("stop -t 1 a"));
  EXPECT_TRUE(wait_for("a", "{{.State.Status}}", "exited\n", 5s)) << state("a", "{{.State.Status}}");
  std::string after_stop = state("a", "{{.RestartCount}}");
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(state("a", "{{.State.Status}} {{.RestartCount}}"), "exited " + after_stop);
  // A stop of a running always container does not restart it.
  ASSERT_TRUE(ok("run --network none -d --name s --restart always alpine sleep 1000"));
  EXPECT_TRUE(ok("stop -t 1 s"));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(state("s", "{{.State.Status}} {{.RestartCount}}"), "exited 0\n");
  // A kill counts as a manual stop too.
  ASSERT_TRUE(ok("run --network none -d --name k --restart unless-stopped alpine sleep 1000"));
  EXPECT_TRUE(ok("kill k"));
  EXPECT_TRUE(wait_for("k", "{{.State.Status}}", "exited\n", 5s));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(state("k", "{{.State.Status}} {{.RestartCount}}"), "exited 0\n");
  // A user start after a manual stop works (and clears the manual stop).
  ASSERT_TRUE(ok("start s"));
  EXPECT_EQ(state("s", "{{.State.Status}}"), "running\n");
  // Validation.
  auto bad = run(d_->curl("POST", "/containers/create",
                          "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"Cmd\":[\"true\"],"
                          "\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"sometimes\"}}}'"));
  EXPECT_NE(bad.out.find("HTTP 400"), std::string::npos) << bad.out;
  auto retries = run(d_->curl("POST", "/containers/create",
                              "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"Cmd\":[\"true\"],"
                              "\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":3}}}'"));
  EXPECT_NE(retries.out.find("HTTP 400"), std::string::npos) << retries.out;
  auto cli = docker("create --network none --restart bogus alpine true");
  EXPECT_NE(cli.status, 0) << cli.out;
}

TEST_F(Exec, AlwaysContainersStartWithTheDaemon) {
  ASSERT_TRUE(ok("run --network none -d --name a --restart always alpine sleep 1000"));
  ASSERT_TRUE(ok("run --network none -d --name u --restart unless-stopped alpine sleep 1000"));
  ASSERT_TRUE(ok("run --network none -d --name us --restart unless-stopped alpine sleep 1000"));
  ASSERT_TRUE(ok("run --network none -d --name n alpine sleep 1000"));
  ASSERT_TRUE(ok("stop -t 1 us"));
  std::vector<std::string> pids;
  for (const char* n : {"a", "u", "n"}) {
    std::string p = state(n, "{{.State.Pid}}");
    ASSERT_GT(p.size(), 1U);
    p.pop_back();
    pids.push_back(p);
  }
  // The daemon goes away and the containers die meanwhile (as at a reboot).
  d_->kill9();
  for (const auto& p : pids) ::kill(std::stoi(p), SIGKILL);
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(d_->start(), "");
  EXPECT_TRUE(wait_for("a", "{{.State.Status}}", "running\n", 10s)) << state("a", "{{.State.Status}}");
  EXPECT_TRUE(wait_for("u", "{{.State.Status}}", "running\n", 10s)) << state("u", "{{.State.Status}}");
  EXPECT_EQ(state("us", "{{.State.Status}}"), "exited\n") << "stopped by the user: stays stopped";
  EXPECT_EQ(state("n", "{{.State.Status}}"), "exited\n");
}

// commit on both storage drivers.
class Commit : public ::testing::TestWithParam<Storage>, protected ExecBase {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    BOCKER_REQUIRE_DOCKER();
    ASSERT_EQ(setup(GetParam()), "");
  }
  void TearDown() override { teardown(); }
};

TEST_P(Commit, RunSeesTheChangesAndKeepsTheConfig) {
  ASSERT_EQ(docker("run --network none --rm alpine test -e /etc/motd").status, 0) << "the base image has /etc/motd";
  auto c = docker("run --network none --name c -e X=1 -w /srv alpine sh -c 'mkdir -p /srv && echo data > /srv/newfile && rm -f /etc/motd && echo ran'");
  ASSERT_EQ(c.status, 0) << c.out;
  // No changes: the container's command and env are the image's now.
  auto id = docker("commit -a tester -m 'first commit' c snap:v1");
  ASSERT_EQ(id.status, 0) << id.out;
  EXPECT_THAT(id.out, ::testing::MatchesRegex("sha256:[0-9a-f]{64}\n"));
  auto rerun = docker("run --network none --rm snap:v1");
  EXPECT_EQ(rerun.status, 0) << rerun.out;
  EXPECT_EQ(rerun.out, "ran\n") << "Cmd kept";
  auto files = docker("run --network none --rm snap:v1 sh -c 'cat newfile; test -e /etc/motd && echo motd || echo no-motd; echo $X'");
  EXPECT_EQ(files.out, "data\nno-motd\n1\n") << "file added, file deleted (whiteout), Env and WorkingDir kept";
  auto cfg = docker("image inspect --format '{{json .Config.Cmd}} {{.Config.WorkingDir}} {{.Author}} {{len .RootFS.Layers}}' snap:v1");
  EXPECT_EQ(cfg.out, "[\"sh\",\"-c\",\"mkdir -p /srv && echo data > /srv/newfile && rm -f /etc/motd && echo ran\"] /srv tester 2\n")
      << cfg.out;
  // --change overrides; a commit of a commit stacks another layer.
  ASSERT_TRUE(ok("run --network none --name c2 snap:v1 sh -c 'echo more > /srv/second'"));
  auto id2 = docker("commit --change 'CMD [\"cat\", \"/srv/second\"]' --change 'ENV Y=2' c2 snap:v2");
  ASSERT_EQ(id2.status, 0) << id2.out;
  auto second = docker("run --network none --rm snap:v2");
  EXPECT_EQ(second.out, "more\n") << second.out;
  auto env = docker("run --network none --rm snap:v2 sh -c 'echo $X $Y; cat /srv/newfile'");
  EXPECT_EQ(env.out, "1 2\ndata\n");
  // A running container can be committed too.
  ASSERT_TRUE(ok("run --network none -d --name live alpine sh -c 'echo live > /live; sleep 1000'"));
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(ok("commit live snap:live"));
  EXPECT_EQ(docker("run --network none --rm snap:live cat /live").out, "live\n");
}

TEST_P(Commit, BadInput) {
  auto unknown = run(d_->curl("POST", "/commit?container=nope&repo=x&tag=y"));
  EXPECT_NE(unknown.out.find("HTTP 404"), std::string::npos) << unknown.out;
  ASSERT_TRUE(ok("create --network none --name c alpine true"));
  std::string images_before = docker("images -q --no-trunc").out;
  auto badrepo = run(d_->curl("POST", "/commit?container=c&repo=UPPER%20case&tag=x"));
  EXPECT_NE(badrepo.out.find("HTTP 400"), std::string::npos) << badrepo.out;
  auto badchange = run(d_->curl("POST", "/commit?container=c&repo=ok&changes=FROB%20x"));
  EXPECT_NE(badchange.out.find("HTTP 400"), std::string::npos) << badchange.out;
  EXPECT_EQ(docker("images -q --no-trunc").out, images_before) << "nothing was created";
  EXPECT_TRUE(refused("commit nope x:y", "No such container"));
}

INSTANTIATE_TEST_SUITE_P(Drivers, Commit, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs), storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
