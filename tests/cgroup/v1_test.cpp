// cgroup v1 for real: these tests create cgroups under <hierarchy>/bocker-test/ on this machine
// (root and cgroup v1 required, else they skip), move forked children into them and check what
// the kernel reports. Every cgroup a test creates is killed and removed in TearDown, also on failure.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::cgroup {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trimmed(const std::string& p) {
  std::string s = slurp(p);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// A forked child that waits in the parent's hands until start(): the test moves it into a cgroup
// first, so everything `body` does is accounted there. Killed and reaped when destroyed.
class Child {
 public:
  explicit Child(std::function<int(int report_fd)> body) {
    int go[2], report[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) throw SystemError(errno, "pipe", "");
    pid_ = ::fork();
    if (pid_ < 0) throw SystemError(errno, "fork", "");
    if (pid_ == 0) {
      ::close(go[1]);
      ::close(report[0]);
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(120);
      ::_exit(body(report[1]));
    }
    ::close(go[0]);
    ::close(report[1]);
    go_.reset(go[1]);
    report_.reset(report[0]);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  pid_t pid() const { return pid_; }
  void start() { ASSERT_EQ(::write(go_.get(), "g", 1), 1); }

  // The next line the child wrote to its report fd ("" on timeout or EOF).
  std::string read_report(int timeout_ms = 20000) {
    std::string line;
    while (true) {
      pollfd p{report_.get(), POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return line;
      char c;
      if (::read(report_.get(), &c, 1) != 1) return line;
      if (c == '\n') return line;
      line += c;
    }
  }

  // Reaps the child; returns the wait status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  Fd go_;
  Fd report_;
};

void report(int fd, const std::string& line) {
  std::string s = line + "\n";
  (void)!::write(fd, s.data(), s.size());
}

class CgroupV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    try {
      mgr_ = Manager::detect("bocker-test");
    } catch (const std::exception& e) {
      GTEST_SKIP() << "no cgroups: " << e.what();
    }
    if (mgr_->version() != 1) GTEST_SKIP() << "this host runs cgroup v2; the v1 tests need v1 hierarchies";
    for (const char* c : {"memory", "cpu", "cpuacct", "pids"}) {
      if (!fs::is_directory(std::string("/sys/fs/cgroup/") + c)) {
        GTEST_SKIP() << "no cgroup v1 " << c << " hierarchy at /sys/fs/cgroup/" << c;
      }
    }
  }

  void TearDown() override {
    for (auto& cg : created_) {
      try {
        cg->kill_all(SIGKILL);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cleanup kill_all " << cg->path() << ": " << e.what();
      }
      try {
        cg->remove();
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cleanup remove " << cg->path() << ": " << e.what();
      }
      for (const auto& d : cg->dirs()) EXPECT_FALSE(fs::exists(d)) << d;
    }
  }

  // Leaves no empty bocker-test/ parents behind (another test run may still use them: then rmdir fails).
  static void TearDownTestSuite() {
    std::error_code ec;
    for (const auto& h : fs::directory_iterator("/sys/fs/cgroup", ec)) {
      ::rmdir((h.path() / "bocker-test").c_str());
    }
  }

  // A new cgroup bocker-test/bocker-test-<pid>-<n>, removed again in TearDown.
  Cgroup& make() {
    static std::atomic<int> n{0};
    std::string id = "bocker-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    auto cg = mgr_->create(id);
    created_.push_back(mgr_->open(id));  // an independent handle for cleanup
    owned_.push_back(std::move(cg));
    return *owned_.back();
  }

  static std::string dir(const Cgroup& cg, const std::string& controller) {
    return "/sys/fs/cgroup/" + controller + "/bocker-test/" + fs::path(cg.path()).filename().string();
  }

  std::unique_ptr<Manager> mgr_;
  std::vector<std::unique_ptr<Cgroup>> created_;
  std::vector<std::unique_ptr<Cgroup>> owned_;
};

TEST_F(CgroupV1, CreateMakesADirectoryInEveryHierarchy) {
  Cgroup& cg = make();
  std::string id = fs::path(cg.path()).filename();
  EXPECT_EQ(cg.path(), "/bocker-test/" + id);
  for (const char* c : {"memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "cpuset", "devices"}) {
    if (!fs::is_directory(std::string("/sys/fs/cgroup/") + c)) continue;
    EXPECT_TRUE(fs::is_directory(dir(cg, c))) << c;
    EXPECT_THAT(cg.dirs(), Contains(dir(cg, c)));
  }
  EXPECT_THAT(mgr_->list(), Contains(id));
  EXPECT_EQ(cg.dir_fd_for_clone(), -1);
  // cpuset starts empty in a new v1 cgroup; create() copies the parent's so tasks can join.
  if (fs::is_directory("/sys/fs/cgroup/cpuset")) {
    EXPECT_EQ(trimmed(dir(cg, "cpuset") + "/cpuset.cpus"), trimmed("/sys/fs/cgroup/cpuset/cpuset.cpus"));
    EXPECT_EQ(trimmed(dir(cg, "cpuset") + "/cpuset.mems"), trimmed("/sys/fs/cgroup/cpuset/cpuset.mems"));
  }
}

TEST_F(CgroupV1, ApplyWritesLimitFiles) {
  Cgroup& cg = make();
  Limits l;
  l.memory_bytes = 64 << 20;
  l.cpu_shares = 512;
  l.cpu_quota_us = 50000;
  l.cpu_period_us = 100000;
  l.pids_limit = 20;
  cg.apply(l);
  EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.limit_in_bytes"), "67108864");
  if (fs::exists(dir(cg, "memory") + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.memsw.limit_in_bytes"), "67108864");  // no extra swap
  }
  EXPECT_EQ(trimmed(dir(cg, "cpu") + "/cpu.shares"), "512");
  EXPECT_EQ(trimmed(dir(cg, "cpu") + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(trimmed(dir(cg, "cpu") + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(trimmed(dir(cg, "pids") + "/pids.max"), "20");

  // Raising memory above the current memory+swap limit needs the memsw write first.
  cg.apply({.memory_bytes = 128 << 20, .memory_swap = 256 << 20});
  EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.limit_in_bytes"), "134217728");
  if (fs::exists(dir(cg, "memory") + "/memory.memsw.limit_in_bytes")) {
    EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.memsw.limit_in_bytes"), "268435456");
  }
  // And lowering it needs the memory write first.
  cg.apply({.memory_bytes = 32 << 20});
  EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.limit_in_bytes"), "33554432");

  cg.apply({.cpu_quota_us = -1, .pids_limit = -1});
  EXPECT_EQ(trimmed(dir(cg, "cpu") + "/cpu.cfs_quota_us"), "-1");
  EXPECT_EQ(trimmed(dir(cg, "pids") + "/pids.max"), "max");
  EXPECT_EQ(trimmed(dir(cg, "cpu") + "/cpu.shares"), "512");  // 0 leaves it alone
}

TEST_F(CgroupV1, BadLimitsChangeNothing) {
  Cgroup& cg = make();
  cg.apply({.memory_bytes = 64 << 20, .pids_limit = 20});
  try {
    cg.apply({.memory_bytes = 5 << 20, .cpu_shares = 100, .pids_limit = 5});
    FAIL() << "5 MB accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_THAT(e.what(), HasSubstr("Minimum memory limit allowed is 6MB"));
  }
  EXPECT_EQ(trimmed(dir(cg, "memory") + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(trimmed(dir(cg, "pids") + "/pids.max"), "20");
  EXPECT_NE(trimmed(dir(cg, "cpu") + "/cpu.shares"), "100");
}

TEST_F(CgroupV1, KernelRefusalNamesFileValueAndErrno) {
  Cgroup& cg = make();
  // A quota above the kernel's maximum for this period passes validation but not the kernel.
  try {
    cg.apply({.cpu_quota_us = std::int64_t{1} << 50, .cpu_period_us = 100000});
    FAIL() << "kernel accepted an absurd quota";
  } catch (const SystemError& e) {
    EXPECT_THAT(e.what(), HasSubstr("write \"" + std::to_string(std::int64_t{1} << 50) + "\" to " +
                                    dir(cg, "cpu") + "/cpu.cfs_quota_us"));
    EXPECT_THAT(e.what(), HasSubstr(std::strerror(e.code().value())));
  }
}

TEST_F(CgroupV1, AddProcessMovesItInEveryHierarchy) {
  Cgroup& cg = make();
  Child child([](int) {
    ::pause();
    return 0;
  });
  cg.add_process(child.pid());
  std::string cgroups = slurp("/proc/" + std::to_string(child.pid()) + "/cgroup");
  std::istringstream in(cgroups);
  std::string line;
  int matched = 0;
  while (std::getline(in, line)) {
    // "4:memory:/bocker-test/<id>"
    auto c1 = line.find(':');
    auto c2 = line.find(':', c1 + 1);
    std::string ctl = line.substr(c1 + 1, c2 - c1 - 1);
    if (ctl == "memory" || ctl == "cpu" || ctl == "cpuacct" || ctl == "pids" || ctl == "blkio" ||
        ctl == "freezer") {
      EXPECT_TRUE(line.ends_with(cg.path())) << line;
      ++matched;
    }
  }
  EXPECT_GE(matched, 4) << cgroups;
  EXPECT_EQ(cg.pids(), std::vector<pid_t>{child.pid()});
  EXPECT_EQ(cg.stats().pids_current, 1u);
}

TEST_F(CgroupV1, StatsCountCpuAndMemoryOfTheChild) {
  Cgroup& cg = make();
  cg.apply({.memory_bytes = 256 << 20, .pids_limit = 50});
  constexpr std::size_t kBytes = 32 << 20;
  Child child([](int fd) {
    // Burn 200 ms of CPU time (its own clock, so a busy machine only makes it slower) and touch
    // 32 MB, then report and wait to be killed.
    auto cpu_ms = [] {
      timespec ts{};
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    };
    volatile std::uint64_t x = 0;
    for (auto start = cpu_ms(); cpu_ms() - start < 200;) x = x + 1;
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    for (std::size_t i = 0; i < kBytes; i += 4096) static_cast<char*>(p)[i] = 1;
    report(fd, "done");
    ::pause();
    return 0;
  });
  cg.add_process(child.pid());
  child.start();
  ASSERT_EQ(child.read_report(), "done");
  Stats s = cg.stats();
  EXPECT_GE(s.cpu_usage_ns, 190'000'000u);  // the 200 ms the child burnt
  EXPECT_GT(s.cpu_user_ns + s.cpu_system_ns, 0u);
  EXPECT_GE(s.memory_usage, kBytes);
  EXPECT_GE(s.memory_rss, kBytes / 2);
  EXPECT_GT(s.memory_working_set, 0u);
  EXPECT_LE(s.memory_working_set, s.memory_usage);
  EXPECT_EQ(s.memory_limit, 256u << 20);
  EXPECT_EQ(s.pids_current, 1u);
  EXPECT_EQ(s.pids_limit, 50u);
  EXPECT_EQ(s.oom_events, 0u);
}

TEST_F(CgroupV1, PidsLimitStopsForks) {
  Cgroup& cg = make();
  cg.apply({.pids_limit = 5});
  Child child([](int fd) {
    // Fork 10 sleepers: the 5-process limit (this one included) lets 4 through.
    std::vector<pid_t> kids;
    int ok = 0, eagain = 0, other = 0;
    for (int i = 0; i < 10; ++i) {
      pid_t k = ::fork();
      if (k == 0) {
        ::pause();
        ::_exit(0);
      }
      if (k > 0) {
        kids.push_back(k);
        ++ok;
      } else if (errno == EAGAIN) {
        ++eagain;
      } else {
        ++other;
      }
    }
    for (pid_t k : kids) ::kill(k, SIGKILL);
    for (pid_t k : kids) ::waitpid(k, nullptr, 0);
    report(fd, std::to_string(ok) + " " + std::to_string(eagain) + " " + std::to_string(other));
    return 0;
  });
  cg.add_process(child.pid());
  child.start();
  EXPECT_EQ(child.read_report(), "4 6 0");
  int status = child.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(CgroupV1, MemoryLimitOomKills) {
  Cgroup& cg = make();
  cg.apply({.memory_bytes = 16 << 20});  // memory_swap 0: no swap on top either
  Child child([](int) {
    constexpr std::size_t kBytes = 64 << 20;
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    for (std::size_t i = 0; i < kBytes; i += 4096) static_cast<char*>(p)[i] = 1;
    return 0;  // survived: the limit did not hold
  });
  cg.add_process(child.pid());
  child.start();
  int status = child.wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_GE(cg.stats().oom_events, 1u);
}

TEST_F(CgroupV1, KillAllEmptiesTheCgroup) {
  Cgroup& cg = make();
  std::vector<std::unique_ptr<Child>> kids;
  for (int i = 0; i < 3; ++i) {
    kids.push_back(std::make_unique<Child>([](int) {
      ::pause();
      return 0;
    }));
    cg.add_process(kids.back()->pid());
  }
  EXPECT_EQ(cg.pids().size(), 3u);
  cg.kill_all(SIGKILL);
  EXPECT_TRUE(cg.pids().empty());
  for (auto& k : kids) {
    int status = k->wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  }
}

TEST_F(CgroupV1, KillAllDeliversOtherSignalsOnce) {
  Cgroup& cg = make();
  Child child([](int) {
    ::pause();
    return 0;
  });
  cg.add_process(child.pid());
  cg.kill_all(SIGTERM);  // returns without waiting
  int status = child.wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  // The freezer was thawed again.
  if (fs::exists(dir(cg, "freezer") + "/freezer.state")) {
    EXPECT_EQ(trimmed(dir(cg, "freezer") + "/freezer.state"), "THAWED");
  }
}

TEST_F(CgroupV1, FreezeStopsTheProcessesAndThawResumesThem) {
  Cgroup& cg = make();
  if (!fs::exists(dir(cg, "freezer") + "/freezer.state")) GTEST_SKIP() << "no freezer hierarchy";
  // The child counts in shared memory; frozen, the count stands still.
  void* shared = ::mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* counter = new (shared) std::atomic<long>(0);  // lock-free: shared across fork
  Child child([counter](int) {
    for (;;) counter->fetch_add(1, std::memory_order_relaxed);
    return 0;
  });
  cg.add_process(child.pid());
  child.start();
  while (counter->load() == 0) std::this_thread::yield();
  EXPECT_FALSE(cg.frozen());
  cg.set_frozen(true);
  EXPECT_TRUE(cg.frozen());
  EXPECT_EQ(trimmed(dir(cg, "freezer") + "/freezer.state"), "FROZEN");
  long a = counter->load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(counter->load(), a) << "a frozen process made progress";
  cg.set_frozen(false);
  EXPECT_FALSE(cg.frozen());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(counter->load(), a) << "the thawed process runs again";
  cg.kill_all(SIGKILL);
  child.wait();
  ::munmap(shared, sizeof(std::atomic<long>));
}

TEST_F(CgroupV1, RemoveWhileBusyFailsThenSucceeds) {
  Cgroup& cg = make();
  Child child([](int) {
    ::pause();
    return 0;
  });
  cg.add_process(child.pid());
  try {
    cg.remove();
    FAIL() << "removed a cgroup with a process in it";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code().value(), EBUSY);
    EXPECT_THAT(e.what(), HasSubstr("rmdir /sys/fs/cgroup/"));
  }
  cg.kill_all(SIGKILL);
  child.wait();
  cg.remove();
  for (const auto& d : cg.dirs()) EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(CgroupV1, RemoveLeavesNothing) {
  Cgroup& cg = make();
  std::string id = fs::path(cg.path()).filename();
  auto dirs = cg.dirs();
  ASSERT_GE(dirs.size(), 4u);
  cg.remove();
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
  EXPECT_THAT(mgr_->list(), ::testing::Not(Contains(id)));
  try {
    mgr_->open(id);
    FAIL() << "opened a removed cgroup";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
  }
}

TEST_F(CgroupV1, OpenFindsAnExistingCgroup) {
  Cgroup& cg = make();
  cg.apply({.pids_limit = 9});
  auto again = mgr_->open(fs::path(cg.path()).filename());
  EXPECT_EQ(again->path(), cg.path());
  EXPECT_EQ(again->dirs(), cg.dirs());
  EXPECT_EQ(again->stats().pids_limit, 9u);
}

// The start path's v1 placement: the calling thread steps into the cgroup, a process it forks
// starts there, and the thread steps back to where it was.
TEST_F(CgroupV1, PlaceCallingThreadClonesIntoTheCgroupAndStepsBack) {
  Cgroup& cg = make();
  std::string before = slurp("/proc/thread-self/cgroup");
  pid_t child = -1;
  std::string child_cgroups, during;
  std::thread worker([&] {  // a thread of its own, as the daemon's worker
    auto placed = cg.place_calling_thread();
    ASSERT_NE(placed, nullptr);
    during = slurp("/proc/thread-self/cgroup");
    child = ::fork();
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    placed->restore();
  });
  worker.join();
  ASSERT_GT(child, 0);
  child_cgroups = slurp("/proc/" + std::to_string(child) + "/cgroup");
  std::vector<pid_t> in = cg.pids();
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_THAT(in, Contains(child));
  for (const char* ctl : {"pids", "memory", "cpu", "cpuacct", "freezer", "devices", "blkio"}) {
    EXPECT_THAT(child_cgroups, HasSubstr(std::string(":") + ctl + ":" + cg.path() + "\n")) << child_cgroups;
    EXPECT_THAT(during, HasSubstr(std::string(":") + ctl + ":" + cg.path() + "\n")) << during;
  }
  EXPECT_EQ(slurp("/proc/thread-self/cgroup"), before) << "this thread never moved";
  EXPECT_TRUE(cg.pids().empty());
}

// pids.max 1: the thread itself would use the only slot, so no placement (add_process instead).
TEST_F(CgroupV1, NoPlacementUnderAPidsLimitOfOne) {
  Cgroup& cg = make();
  Limits l;
  l.pids_limit = 1;
  cg.apply(l);
  EXPECT_EQ(cg.place_calling_thread(), nullptr);
}

}  // namespace
}  // namespace bocker::cgroup
