// Containers through the real docker CLI and the bocker CLI against a real bockerd, on both
// storage drivers: run --rm with output and exit codes, missing/non-executable commands, -d +
// logs (both streams, timestamps, tail) + stop, stdin through -i, PID 1 and namespaces,
// inspect/ps/rm, and nothing (mounts, rootfs dirs) left behind.
#include <fstream>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

class Containers : public ::testing::TestWithParam<Storage> {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    root_ = std::make_unique<TestRoot>(GetParam());
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", root_->driver()});
    std::string err = d_->start();
    ASSERT_EQ(err, "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (d_) {
      run(d_->docker("rm -f $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    root_.reset();
  }
  bool docker_cli() {
    if (!have("docker")) {
      std::cout << "no docker CLI: docker variants skipped\n";
      return false;
    }
    return true;
  }
  int mounts_below_root() {
    std::string mi = read_file("/proc/self/mountinfo");
    int n = 0;
    for (std::size_t p = mi.find(root_->root() + "/"); p != std::string::npos; p = mi.find(root_->root() + "/", p + 1)) ++n;
    return n;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

TEST_P(Containers, RunRmPrintsOutputAndPropagatesExitCodes) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  auto hi = run("timeout 30 env " + d_->docker("run --rm alpine echo hi"));
  EXPECT_EQ(hi.status, 0) << hi.out;
  EXPECT_EQ(hi.out, "hi\n");
  auto three = run("timeout 30 env " + d_->docker("run --rm alpine sh -c 'exit 3'"));
  EXPECT_EQ(three.status, 3) << three.out;
  auto missing = run("timeout 30 env " + d_->docker("run --rm alpine nosuchcmd"));
  EXPECT_EQ(missing.status, 127) << missing.out;
  EXPECT_NE(missing.out.find("executable file not found in $PATH"), std::string::npos) << missing.out;
  auto noexec = run("timeout 30 env " + d_->docker("run --rm alpine /etc/passwd"));
  EXPECT_EQ(noexec.status, 126) << noexec.out;
  auto ps = run(d_->docker("ps -aq"));
  EXPECT_EQ(ps.out, "") << "--rm removed every container, also those whose start failed";
  EXPECT_EQ(mounts_below_root(), 0);
  EXPECT_TRUE(fs::is_empty(root_->root() + "/containers"));
}

TEST_P(Containers, UnknownImageIs404AndNothingIsLeft) {
  auto r = run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' -d '{\"Image\":\"nosuch:1\",\"Cmd\":[\"true\"]}'"));
  EXPECT_NE(r.out.find("HTTP 404"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No such image: nosuch:1"), std::string::npos) << r.out;
  auto small = run(d_->curl("POST", "/containers/create",
                            "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"Cmd\":[\"true\"],\"HostConfig\":{\"Memory\":1000000}}'"));
  EXPECT_NE(small.out.find("HTTP 400"), std::string::npos) << small.out;
  EXPECT_NE(small.out.find("Minimum memory limit allowed is 6MB"), std::string::npos) << small.out;
  auto bad = run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' -d '{\"Image\":5}'"));
  EXPECT_NE(bad.out.find("HTTP 400"), std::string::npos) << bad.out;
  auto garbage = run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' -d '{nope'"));
  EXPECT_NE(garbage.out.find("HTTP 400"), std::string::npos) << garbage.out;
  EXPECT_TRUE(!fs::exists(root_->root() + "/containers") || fs::is_empty(root_->root() + "/containers"));
}

// Hostile create bodies: wrong types, absurd limits, bad mounts/ports/policies/log options and a
// huge body all get 400 with a message, and nothing is created.
TEST_P(Containers, HostileCreateBodiesAre400AndChangeNothing) {
  const std::string base = R"("Image":"alpine","Cmd":["true"])";
  const std::vector<std::string> bodies = {
      "[]",
      R"({"Image":["alpine"]})",
      "{" + base + R"(,"Cmd":"x","HostConfig":[]})",
      "{" + base + R"(,"Env":[1,2]})",
      "{" + base + R"(,"Entrypoint":{"a":1}})",
      "{" + base + R"(,"HostConfig":{"Memory":"lots"}})",
      "{" + base + R"(,"HostConfig":{"Memory":-5}})",
      "{" + base + R"(,"HostConfig":{"Memory":1})})",
      "{" + base + R"(,"HostConfig":{"CpuShares":99999999999}})",
      "{" + base + R"(,"HostConfig":{"NanoCpus":-1}})",
      "{" + base + R"(,"HostConfig":{"PidsLimit":-7}})",
      "{" + base + R"(,"HostConfig":{"NetworkMode":"nosuchnet"}})",
      "{" + base + R"(,"HostConfig":{"RestartPolicy":{"Name":"sometimes"}}})",
      "{" + base + R"(,"HostConfig":{"LogConfig":{"Type":"syslog"}}})",
      "{" + base + R"(,"HostConfig":{"LogConfig":{"Type":"local","Config":{"max-size":"-1k"}}}})",
      "{" + base + R"(,"HostConfig":{"Binds":["relative:path:zz"]}})",
      "{" + base + R"(,"HostConfig":{"Binds":["/tmp:relative"]}})",
      "{" + base + R"(,"HostConfig":{"PortBindings":{"99999/tcp":[{"HostPort":"80"}]}}})",
      "{" + base + R"(,"HostConfig":{"PortBindings":{"80/sctp":[{"HostPort":"x"}]}}})",
      "{" + base + R"(,"HostConfig":{"VolumesFrom":["nosuchcontainer"]}})",
  };
  std::string dir = root_->dir() + "/bodies";
  fs::create_directories(dir);
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    std::string f = dir + "/b" + std::to_string(i) + ".json";
    { std::ofstream(f) << bodies[i]; }
    auto r = run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' --data-binary @" + f));
    bool client_error = r.out.find("HTTP 400") != std::string::npos || r.out.find("HTTP 404") != std::string::npos;
    EXPECT_TRUE(client_error) << bodies[i] << " -> " << r.out;
    EXPECT_NE(r.out.find("\"message\""), std::string::npos) << bodies[i] << " -> " << r.out;
  }
  // 20 MB of JSON: over the body limit (413) or refused as a bad body, never a crash.
  std::string huge = dir + "/huge.json";
  {
    std::ofstream out(huge);
    out << "{" << base << R"(,"Env":[)";
    for (int i = 0; i < 1'000'000; ++i) out << (i ? "," : "") << "\"A" << i << "=xxxxxxxxxx\"";
    out << "]}";
  }
  auto r = run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' --data-binary @" + huge));
  EXPECT_TRUE(r.out.find("HTTP 413") != std::string::npos || r.out.find("HTTP 400") != std::string::npos) << r.out.substr(0, 300);
  EXPECT_EQ(run(d_->docker("ps -aq")).out, "");
  EXPECT_TRUE(!fs::exists(root_->root() + "/containers") || fs::is_empty(root_->root() + "/containers"));
  EXPECT_EQ(mounts_below_root(), 0);
  auto ping = run(d_->curl("GET", "/_ping"));
  EXPECT_NE(ping.out.find("HTTP 200"), std::string::npos) << "the daemon is still up";
}

TEST_P(Containers, DuplicateNameIsAConflict) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  ASSERT_EQ(run(d_->docker("create --name one alpine true")).status, 0);
  auto again = run(d_->docker("create --name one alpine true"));
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.out.find("is already in use by container"), std::string::npos) << again.out;
  EXPECT_EQ(run(d_->docker("rm one")).status, 0);
}

TEST_P(Containers, DetachedLogsBothStreamsTailTimestampsAndStop) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  auto id = run(d_->docker("run -d --name w alpine sh -c 'i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.05; done'"));
  ASSERT_EQ(id.status, 0) << id.out;
  EXPECT_EQ(id.out.size(), 65U) << "the 64-hex id and a newline: " << id.out;
  std::this_thread::sleep_for(600ms);
  auto ps = run(d_->docker("ps --format '{{.Names}} {{.Status}}'"));
  EXPECT_NE(ps.out.find("w Up"), std::string::npos) << ps.out;
  // run() appends 2>&1: a subshell keeps the inner redirections.
  auto out = run("(" + d_->docker("logs w") + " 2>/dev/null)");
  EXPECT_NE(out.out.find("out 0\nout 1\n"), std::string::npos) << out.out;
  EXPECT_EQ(out.out.find("err"), std::string::npos) << "stderr is framed apart from stdout";
  auto err = run("(" + d_->docker("logs w") + " 2>&1 >/dev/null)");
  EXPECT_NE(err.out.find("err 0\n"), std::string::npos) << err.out;
  auto tail = run(d_->docker("logs --tail 1 w"));  // both streams: the last line of either
  EXPECT_EQ(std::count(tail.out.begin(), tail.out.end(), '\n'), 1) << tail.out;
  auto ts = run("(" + d_->docker("logs -t --tail 2 w") + " 2>/dev/null)");
  EXPECT_THAT(ts.out, ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (out|err) [0-9]+\n([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z out [0-9]+\n)?"));
  auto stop = run("timeout 30 env " + d_->docker("stop -t 1 w"));
  EXPECT_EQ(stop.status, 0) << stop.out;
  auto st = run(d_->docker("inspect --format '{{.State.Status}} {{.State.ExitCode}}' w"));
  EXPECT_EQ(st.out, "exited 137\n") << "sh as PID 1 ignores SIGTERM, so stop ends with SIGKILL";
  EXPECT_EQ(run(d_->docker("rm w")).status, 0);
  EXPECT_EQ(mounts_below_root(), 0);
}

TEST_P(Containers, StdinReachesTheContainerAndPid1IsTheCommand) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  auto cat = run("echo hello | timeout 30 env " + d_->docker("run --rm -i alpine cat"));
  EXPECT_EQ(cat.status, 0) << cat.out;
  EXPECT_EQ(cat.out, "hello\n");
  auto pid1 = run("timeout 30 env " + d_->docker("run --rm --hostname box alpine sh -c 'echo $$; hostname; ls /proc | grep -c \"^[0-9]\"'"));
  EXPECT_EQ(pid1.status, 0) << pid1.out;
  EXPECT_THAT(pid1.out, ::testing::StartsWith("1\nbox\n"));
  // Only the shell and ls (and grep) are in the new PID namespace.
  EXPECT_LE(std::stoi(pid1.out.substr(pid1.out.rfind('\n', pid1.out.size() - 2) + 1)), 4);
}

TEST_P(Containers, BockerCliSeesTheSameContainers) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  ASSERT_EQ(run(d_->docker("create --name c1 alpine true")).status, 0);
  auto info = run(d_->bocker("info --format '{{.Containers}}'"));
  EXPECT_EQ(info.out, "1\n") << info.out;
  auto rm = run(d_->curl("DELETE", "/containers/c1"));
  EXPECT_NE(rm.out.find("HTTP 204"), std::string::npos) << rm.out;
  auto again = run(d_->curl("DELETE", "/containers/c1"));
  EXPECT_NE(again.out.find("HTTP 404"), std::string::npos) << again.out;
}

INSTANTIATE_TEST_SUITE_P(Drivers, Containers, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs), storage_name);

}  // namespace
}  // namespace bocker::daemon::testing

namespace bocker::daemon::testing {
namespace {

// cgroup v1 for real on this machine (v2 logic is tested against a fake tree in tests/cgroup).
class ContainerLimits : public Containers {};

TEST_P(ContainerLimits, MemoryLimitOomKillIsRecorded) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  auto r = run("timeout 60 env " + d_->docker("run --name oom --memory 16m alpine sh -c 'tail /dev/zero'"));
  EXPECT_EQ(r.status, 137) << r.out;
  auto st = run(d_->docker("inspect --format '{{.State.OOMKilled}} {{.State.ExitCode}}' oom"));
  EXPECT_EQ(st.out, "true 137\n");
  EXPECT_EQ(run(d_->docker("rm oom")).status, 0);
}

TEST_P(ContainerLimits, PidsLimitStopsAForkBombAndSharesAreWritten) {
  if (!docker_cli()) GTEST_SKIP() << "no docker CLI";
  auto id = run(d_->docker("run -d --name p --pids-limit 8 --cpu-shares 333 alpine sleep 30"));
  ASSERT_EQ(id.status, 0) << id.out;
  std::string cid = id.out.substr(0, 64);
  std::string shares = "/sys/fs/cgroup/cpu/bocker/" + cid + "/cpu.shares";
  if (fs::exists("/sys/fs/cgroup/cpu/bocker")) {
    EXPECT_EQ(read_file(shares), "333\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/pids/bocker/" + cid + "/pids.max"), "8\n");
  }
  ASSERT_EQ(run(d_->docker("rm -f p")).status, 0);
  EXPECT_FALSE(fs::exists("/sys/fs/cgroup/cpu/bocker/" + cid)) << "the cgroup goes with the container";
  auto bomb = run("timeout 60 env " + d_->docker("run --rm --pids-limit 10 alpine sh -c 'for i in $(seq 40); do sleep 3 & done; wait'"));
  EXPECT_NE(bomb.out.find("fork"), std::string::npos) << "forks beyond the limit fail: " << bomb.out;
}

INSTANTIATE_TEST_SUITE_P(Drivers, ContainerLimits, ::testing::Values(Storage::kOverlay2), storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
