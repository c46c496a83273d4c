// Live restore against a real bockerd (root, Alpine): containers outlive `kill -9` and SIGTERM
// of the daemon, a new daemon re-adopts them with every line written meanwhile in their logs (a
// counter shows no gap), stop works and records an exit; a container that exits while no daemon
// runs is shown exited and its cgroup is swept.
#include <glob.h>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using nlohmann::json;

// The cgroup directories of container `id` (any v1 hierarchy, or v2).
std::vector<std::string> cgroup_dirs(const std::string& id) {
  std::vector<std::string> out;
  for (std::string pattern : {"/sys/fs/cgroup/*/bocker/" + id, "/sys/fs/cgroup/bocker/" + id}) {
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  return out;
}

std::uint64_t start_time(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 1));
  std::string f;
  for (int i = 0; i < 20 && (in >> f); ++i) {
  }
  return f.empty() ? 0 : std::stoull(f);
}

bool alive(pid_t pid) {
  std::string st = read_file("/proc/" + std::to_string(pid) + "/stat");
  return !st.empty() && st.find(") Z") == std::string::npos;
}

// Pids of fd keepers (`bockerd --fd-keeper`) whose parent is `parent`.
std::vector<pid_t> keepers_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = read_file(e.path().string() + "/cmdline");
    if (cmd != std::string("bockerd\0--fd-keeper\0", 20)) continue;
    std::string st = read_file(e.path().string() + "/stat");
    std::istringstream in(st.substr(st.rfind(')') + 2));
    char state = 0;
    pid_t ppid = 0;
    in >> state >> ppid;
    if (ppid == parent && state != 'Z') out.push_back(std::stoi(name));
  }
  return out;
}

class LiveRestore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, cgroups, overlay2)";
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", "overlay2"});
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (!d_) return;
    if (!d_->running()) d_->start();
    run(d_->bocker("rm -f $(" + d_->bocker("ps -aq") + ") >/dev/null 2>&1"));
    d_->stop();
    // Backstop: container processes a failed test left behind (checked by pid and start time).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_->root() + "/containers", ec)) {
      auto j = json::parse(read_file(e.path().string() + "/config.json"), nullptr, false);
      if (!j.is_object()) continue;
      pid_t pid = j.value("Pid", 0);
      if (pid > 0 && start_time(pid) == j.value("PidStartTime", std::uint64_t{0})) ::kill(pid, SIGKILL);
    }
    d_.reset();
    root_.reset();
  }

  json inspect(const std::string& name) {
    auto r = run(d_->curl("GET", "/containers/" + name + "/json"));
    auto body = r.out.substr(0, r.out.rfind('\n'));
    return json::parse(body, nullptr, false);
  }
  std::string run_counter(const std::string& name) {
    auto r = run(d_->bocker("run -d --network none --name " + name +
                            " alpine sh -c 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done'"));
    EXPECT_EQ(r.status, 0) << r.out;
    std::string id = r.out.substr(0, r.out.find('\n'));
    return id;
  }
  // The counter lines of `name`'s logs: checks they run 0, 1, 2, ... with no gap; returns how many.
  long contiguous_lines(const std::string& name) {
    auto r = run("(" + d_->bocker("logs " + name) + " 2>/dev/null)");
    std::istringstream in(r.out);
    long expect = 0;
    for (std::string word, n; in >> word >> n; ++expect) {
      EXPECT_EQ(word, "line");
      if (std::stol(n) != expect) {
        ADD_FAILURE() << "gap in the counter: expected " << expect << ", got " << n;
        return -1;
      }
    }
    return expect;
  }
  void outage_keeps_container(bool kill9) {
    std::string id = run_counter("ctr");
    std::this_thread::sleep_for(1s);
    json before = inspect("ctr");
    ASSERT_TRUE(before.is_object());
    int pid = before["State"]["Pid"];
    long before_lines = contiguous_lines("ctr");
    if (kill9) {
      d_->kill9();
    } else {
      auto t0 = std::chrono::steady_clock::now();
      d_->stop();
      EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s) << "SIGTERM shutdown is quick and kills nothing";
    }
    std::this_thread::sleep_for(2s);  // ~40 lines written with no daemon
    EXPECT_EQ(::kill(pid, 0), 0) << "the container outlived the daemon";
    ASSERT_EQ(d_->start(), "");
    json after = inspect("ctr");
    ASSERT_TRUE(after.is_object());
    EXPECT_EQ(after["State"]["Status"], "running");
    EXPECT_EQ(after["State"]["Pid"], pid);
    auto ps = run(d_->bocker("ps -q"));
    EXPECT_NE(ps.out.find(id.substr(0, 12)), std::string::npos) << ps.out;
    std::this_thread::sleep_for(500ms);
    long after_lines = contiguous_lines("ctr");
    EXPECT_GE(after_lines, before_lines + 40) << "the lines written during the outage are there";
    auto stop = run("timeout 30 env " + d_->bocker("stop -t 1 ctr"));
    EXPECT_EQ(stop.status, 0) << stop.out;
    json done = inspect("ctr");
    EXPECT_EQ(done["State"]["Status"], "exited");
    int code = done["State"]["ExitCode"];
    // 137 when the status could still be read from the zombie; else 255 and an Error saying so.
    if (code != 137) {
      EXPECT_EQ(code, 255);
      EXPECT_NE(done["State"]["Error"].get<std::string>().find("exit status lost"), std::string::npos) << done.dump();
    }
    EXPECT_FALSE(alive(pid)) << "the process is gone (or a zombie)";
    EXPECT_GE(contiguous_lines("ctr"), after_lines);
    EXPECT_TRUE(cgroup_dirs(id).empty());
    EXPECT_EQ(run(d_->bocker("rm ctr")).status, 0);
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

TEST_F(LiveRestore, Kill9KeepsTheContainerAndEveryLine) { outage_keeps_container(true); }

TEST_F(LiveRestore, SigtermShutdownKeepsTheContainerAndEveryLine) { outage_keeps_container(false); }

// Issue 5's scenario: kill -9 while 20 containers run and write; all 20 are running after the
// restart with no gap in any counter, stop works on each, and no process or cgroup is left.
TEST_F(LiveRestore, Kill9With20WritingContainersKeepsEveryLineOfEach) {
  constexpr int kCount = 20;
  std::vector<std::string> ids;
  for (int i = 0; i < kCount; ++i) ids.push_back(run_counter("c" + std::to_string(i)));
  std::this_thread::sleep_for(1s);
  std::vector<long> before(kCount);
  std::vector<int> pids(kCount);
  for (int i = 0; i < kCount; ++i) {
    json j = inspect("c" + std::to_string(i));
    ASSERT_TRUE(j.is_object());
    pids[i] = j["State"]["Pid"];
    before[i] = contiguous_lines("c" + std::to_string(i));
  }
  d_->kill9();
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(d_->start(), "");
  auto ps = run(d_->bocker("ps -q"));
  for (const auto& id : ids) EXPECT_NE(ps.out.find(id.substr(0, 12)), std::string::npos) << ps.out;
  std::this_thread::sleep_for(500ms);
  for (int i = 0; i < kCount; ++i) {
    std::string name = "c" + std::to_string(i);
    json j = inspect(name);
    EXPECT_EQ(j["State"]["Status"], "running") << name;
    EXPECT_EQ(j["State"]["Pid"], pids[i]) << name;
    EXPECT_GE(contiguous_lines(name), before[i] + 30) << name << ": the lines written during the outage";
  }
  std::string names;
  for (int i = 0; i < kCount; ++i) names += " c" + std::to_string(i);
  auto stop = run("timeout 60 env " + d_->bocker("stop -t 1" + names));
  EXPECT_EQ(stop.status, 0) << stop.out;
  for (int i = 0; i < kCount; ++i) {
    EXPECT_FALSE(alive(pids[i])) << "c" << i;
    EXPECT_TRUE(cgroup_dirs(ids[i]).empty()) << "c" << i;
  }
  EXPECT_EQ(run(d_->bocker("rm" + names)).status, 0);
}

TEST_F(LiveRestore, Kill9KeepsATtyContainersTerminalAndOutput) {
  // Without the fd keeper the pty master dies with the daemon: the shell gets SIGHUP and exits 9.
  auto r = run(d_->bocker("run -d -t --network none --name tty alpine sh -c "
                          "'trap \"exit 9\" HUP; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done'"));
  ASSERT_EQ(r.status, 0) << r.out;
  std::this_thread::sleep_for(1s);
  json before = inspect("tty");
  ASSERT_TRUE(before.is_object());
  int pid = before["State"]["Pid"];
  long before_lines = contiguous_lines("tty");
  EXPECT_GE(before_lines, 5);
  std::vector<pid_t> keepers = keepers_of(d_->pid());
  ASSERT_EQ(keepers.size(), 1U) << "one fd keeper, the daemon's child";
  d_->kill9();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(::kill(pid, 0), 0) << "the container's terminal did not hang up";
  ASSERT_EQ(d_->start(), "");
  json after = inspect("tty");
  EXPECT_EQ(after["State"]["Status"], "running");
  EXPECT_EQ(after["State"]["Pid"], pid);
  std::this_thread::sleep_for(500ms);
  long after_lines = contiguous_lines("tty");
  EXPECT_GE(after_lines, before_lines + 40) << "the lines written during the outage and after it are captured";
  auto stop = run("timeout 30 env " + d_->bocker("stop -t 1 tty"));
  EXPECT_EQ(stop.status, 0) << stop.out;
  EXPECT_EQ(run(d_->bocker("rm tty")).status, 0);
  // The keeper lets go of a terminal nobody uses any more, and then exits.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = !alive(keepers[0]);
    if (!gone) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(gone) << "fd keeper " << keepers[0] << " still runs";
}

TEST_F(LiveRestore, APausedContainerIsStillPausedAfterAKill9) {
  auto r = run(d_->bocker("run -d --network none --name p alpine sleep 1000"));
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_EQ(run(d_->bocker("pause p")).status, 0);
  d_->kill9();
  ASSERT_EQ(d_->start(), "");
  json j = inspect("p");
  EXPECT_EQ(j["State"]["Status"], "paused") << "the freezer's state is the truth after a restart";
  EXPECT_EQ(j["State"]["Paused"], true);
  auto un = run(d_->bocker("unpause p"));
  EXPECT_EQ(un.status, 0) << un.out;
  EXPECT_EQ(inspect("p")["State"]["Status"], "running");
}

TEST_F(LiveRestore, ContainerExitingWhileTheDaemonIsDownIsExitedAndItsCgroupSwept) {
  auto r = run(d_->bocker("run -d --network none --name short alpine sh -c 'sleep 1.5; exit 3'"));
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = r.out.substr(0, r.out.find('\n'));
  json j = inspect("short");
  int pid = j["State"]["Pid"];
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(cgroup_dirs(id).empty()) << "the container has a cgroup while it runs";
  d_->kill9();
  // Wait for the exit (a zombie counts: nobody may reap it right away).
  for (int i = 0; i < 100; ++i) {
    std::string st = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (st.empty() || st.find(") Z") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(d_->start(), "");
  json after = inspect("short");
  EXPECT_EQ(after["State"]["Status"], "exited") << after.dump();
  int code = after["State"]["ExitCode"];
  if (code != 3) {
    EXPECT_EQ(code, 255);
    EXPECT_NE(after["State"]["Error"].get<std::string>().find("exit status lost"), std::string::npos);
  }
  EXPECT_TRUE(cgroup_dirs(id).empty()) << "swept at restart";
  auto ps = run(d_->bocker("ps -q"));
  EXPECT_EQ(ps.out, "");
  // It starts again like any exited container.
  EXPECT_EQ(run("timeout 30 env " + d_->bocker("start short")).status, 0);
  auto again = run("timeout 30 env " + d_->bocker("wait short"));
  EXPECT_EQ(again.out, "3\n");
  EXPECT_EQ(run(d_->bocker("rm short")).status, 0);
}

TEST_F(LiveRestore, AReusedPidIsNotAdopted) {
  std::string id = run_counter("ctr");
  std::this_thread::sleep_for(300ms);
  d_->kill9();
  // Make the record point at another live process (this test) with a wrong start time, as if the
  // pid had been reused.
  std::string path = root_->root() + "/containers/" + id + "/config.json";
  json j = json::parse(read_file(path));
  pid_t real = j["Pid"];
  j["Pid"] = ::getpid();
  { std::ofstream(path) << j.dump(); }
  ASSERT_EQ(d_->start(), "");
  json after = inspect("ctr");
  EXPECT_EQ(after["State"]["Status"], "exited") << "pid " << ::getpid() << " has another start time";
  EXPECT_EQ(::kill(::getpid(), 0), 0) << "and it was not killed";
  // The real container is now unknown to the daemon: end it here.
  if (start_time(real) != 0) ::kill(real, SIGKILL);
}

}  // namespace
}  // namespace bocker::daemon::testing
