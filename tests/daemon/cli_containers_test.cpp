// The bocker CLI's container commands against a real bockerd (overlay2): run output and exit
// codes, -d + logs + stop + rm, ps -a with the exit code, stdin through run -i, the
// BOCKER_MEM_LIMIT default in HostConfig.Memory, and exec/commit/stats once the daemon has them.
#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

class CliContainers : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(Storage::kOverlay2);
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock",
                                         root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", "overlay2"});
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (d_) {
      run(d_->bocker("rm -f $(" + d_->bocker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    root_.reset();
  }
  // `bocker ARGS` with a time limit, stdout only (stderr to `err` when given).
  CmdResult bocker(const std::string& args) { return run("timeout 60 env " + d_->bocker(args)); }
  CmdResult bocker_stdout(const std::string& args) {
    return run("(timeout 60 env " + d_->bocker(args) + " 2>/dev/null)");
  }
  // True when the daemon does not serve `what` yet (404 "... not supported"/"page not found").
  static bool unsupported(const CmdResult& r) {
    return r.out.find("not supported") != std::string::npos ||
           r.out.find("page not found") != std::string::npos;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

TEST_F(CliContainers, RunPrintsOutputAndPropagatesExitCodes) {
  auto hi = bocker("run --rm alpine echo hi");
  EXPECT_EQ(hi.status, 0) << hi.out;
  EXPECT_EQ(hi.out, "hi\n");
  auto three = bocker("run --rm alpine sh -c 'exit 3'");
  EXPECT_EQ(three.status, 3) << three.out;
  auto err =
      run("(timeout 60 env " + d_->bocker("run --rm alpine sh -c 'echo to-err >&2'") + " 2>&1 >/dev/null)");
  EXPECT_EQ(err.out, "to-err\n") << "stderr frames go to stderr";
  auto missing = bocker("run --rm alpine nosuchcmd");
  EXPECT_EQ(missing.status, 127) << missing.out;
  auto old_form = bocker("run alpine echo old");  // bocker's old `run IMAGE CMD...`
  EXPECT_EQ(old_form.status, 0) << old_form.out;
  EXPECT_EQ(old_form.out, "old\n");
  auto noimage = bocker("run --rm nosuch.invalid/x:1 true");
  EXPECT_EQ(noimage.status, 125) << noimage.out;
  EXPECT_NE(noimage.out.find("Unable to find image 'nosuch.invalid/x:1' locally"), std::string::npos)
      << noimage.out;
}

TEST_F(CliContainers, DetachedLogsStopRmAndPsShowsTheExitCode) {
  auto id = bocker_stdout(
      "run -d --name w alpine sh -c 'echo started; echo oops >&2; while true; do sleep 0.1; done'");
  ASSERT_EQ(id.status, 0) << id.out;
  ASSERT_EQ(id.out.size(), 65U) << id.out;
  std::this_thread::sleep_for(500ms);
  auto ps = bocker_stdout("ps");
  EXPECT_NE(ps.out.find("CONTAINER ID   IMAGE"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find(id.out.substr(0, 12)), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("Up "), std::string::npos) << ps.out;
  auto out = bocker_stdout("logs w");
  EXPECT_EQ(out.out, "started\n");
  auto err = run("(" + d_->bocker("logs w") + " 2>&1 >/dev/null)");
  EXPECT_EQ(err.out, "oops\n");
  auto stop = bocker("stop -t 1 w");
  EXPECT_EQ(stop.status, 0) << stop.out;
  EXPECT_EQ(stop.out, "w\n");
  auto done = bocker_stdout("run --name e alpine sh -c 'exit 4'");
  EXPECT_EQ(done.status, 4);
  auto psa = bocker_stdout("ps -a");
  EXPECT_NE(psa.out.find("Exited (4)"), std::string::npos) << psa.out;
  EXPECT_NE(psa.out.find("Exited (137)"), std::string::npos) << psa.out;
  EXPECT_EQ(bocker_stdout("ps -q").out, "") << "nothing running";
  auto w = bocker_stdout("wait e");
  EXPECT_EQ(w.out, "4\n");
  EXPECT_EQ(bocker("rm w e").status, 0);
  auto again = bocker("rm w");
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.out.find("Error response from daemon: No such container: w"), std::string::npos)
      << again.out;
  EXPECT_EQ(bocker_stdout("ps -aq").out, "");
}

TEST_F(CliContainers, RunInteractiveForwardsPipedStdin) {
  auto cat = run("echo abc | timeout 60 env " + d_->bocker("run --rm -i alpine cat"));
  EXPECT_EQ(cat.status, 0) << cat.out;
  EXPECT_EQ(cat.out, "abc\n");
  auto wc = run("seq 1 1000 | timeout 60 env " + d_->bocker("run --rm -i alpine wc -l"));
  EXPECT_EQ(wc.status, 0) << wc.out;
  EXPECT_EQ(wc.out, "1000\n");
}

TEST_F(CliContainers, BockerMemLimitDefaultIsApplied) {
  ASSERT_EQ(
      run("BOCKER_MEM_LIMIT=64 BOCKER_CPU_SHARE=256 " + d_->bocker("create --name m alpine true")).status, 0);
  auto insp = bocker_stdout("inspect m");
  auto j = nlohmann::json::parse(insp.out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << insp.out;
  EXPECT_EQ(j[0]["HostConfig"]["Memory"], 64000000);
  EXPECT_EQ(j[0]["HostConfig"]["CpuShares"], 256);
  ASSERT_EQ(bocker("create --name f -m 32m alpine true").status, 0);
  auto f = nlohmann::json::parse(bocker_stdout("inspect f").out, nullptr, false);
  ASSERT_TRUE(f.is_array() && f.size() == 1);
  EXPECT_EQ(f[0]["HostConfig"]["Memory"], 32 * 1024 * 1024) << "the flag wins over the default";
  auto img = nlohmann::json::parse(bocker_stdout("inspect alpine").out, nullptr, false);
  ASSERT_TRUE(img.is_array() && img.size() == 1);
  EXPECT_NE(img[0].value("Id", "").find("sha256:"), std::string::npos) << "inspect falls back to images";
  auto ghost = bocker("inspect ghost");
  EXPECT_EQ(ghost.status, 1);
  EXPECT_NE(ghost.out.find("No such object: ghost"), std::string::npos);
}

TEST_F(CliContainers, ExecInARunningContainer) {
  ASSERT_EQ(bocker("run -d --name x alpine sleep 30").status, 0);
  auto probe = bocker("exec x true");
  if (probe.status != 0 && unsupported(probe)) GTEST_SKIP() << "daemon has no exec yet: " << probe.out;
  EXPECT_EQ(probe.status, 0) << probe.out;
  auto echo = bocker_stdout("exec x sh -c 'echo in-exec; exit 6'");
  EXPECT_EQ(echo.status, 6);
  EXPECT_EQ(echo.out, "in-exec\n");
  auto in = run("echo piped | timeout 60 env " + d_->bocker("exec -i x cat"));
  EXPECT_EQ(in.out, "piped\n");
  EXPECT_EQ(bocker("rm -f x").status, 0);
}

TEST_F(CliContainers, CommitMakesAnImage) {
  ASSERT_EQ(bocker("run --name c alpine sh -c 'echo committed > /marker'").status, 0);
  auto commit = bocker("commit c snap:v1");
  if (commit.status != 0 && unsupported(commit)) GTEST_SKIP() << "daemon has no commit yet: " << commit.out;
  ASSERT_EQ(commit.status, 0) << commit.out;
  EXPECT_EQ(commit.out.rfind("sha256:", 0), 0U) << commit.out;
  auto cat = bocker_stdout("run --rm snap:v1 cat /marker");
  EXPECT_EQ(cat.out, "committed\n");
  EXPECT_EQ(bocker("rm c").status, 0);
  EXPECT_EQ(bocker("rmi snap:v1").status, 0);
}

TEST_F(CliContainers, StatsNoStream) {
  ASSERT_EQ(bocker("run -d --name s -m 64m alpine sleep 30").status, 0);
  auto stats = bocker("stats --no-stream s");
  if (stats.status != 0 && unsupported(stats)) GTEST_SKIP() << "daemon has no stats yet: " << stats.out;
  ASSERT_EQ(stats.status, 0) << stats.out;
  EXPECT_NE(stats.out.find("CONTAINER ID   NAME"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find(" s "), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("/ 64MiB"), std::string::npos) << stats.out;
  EXPECT_EQ(bocker("rm -f s").status, 0);
}

}  // namespace
}  // namespace bocker::daemon::testing
