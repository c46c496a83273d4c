// cgroup v2 against a FAKE unified tree: plain files in a temp directory stand in for the kernel's
// cgroupfs (this machine runs cgroup v1, so no real v2 controllers are available). These tests check
// which files the v2 implementation writes and how it parses them, not kernel behaviour.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::cgroup {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << p;
}

class FakeV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bocker-fakev2-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    // The root offers more controllers than bocker wants; hugetlb and rdma must not be enabled.
    put(root_ / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(root_ / "cgroup.subtree_control", "");
    put(root_ / "cgroup.procs", "1\n");
    // The parent exists already (as after an earlier daemon run), offering what the root enabled.
    fs::create_directory(root_ / "bocker-test");
    populate(root_ / "bocker-test");
    put(root_ / "bocker-test" / "cgroup.controllers", "cpu io memory pids\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  // What the kernel would show in a fresh cgroup directory.
  void populate(const fs::path& dir) {
    put(dir / "cgroup.controllers", "cpu io memory pids\n");
    put(dir / "cgroup.subtree_control", "");
    put(dir / "cgroup.procs", "");
    put(dir / "cgroup.kill", "");
    put(dir / "cgroup.freeze", "0\n");
    put(dir / "memory.max", "max\n");
    put(dir / "memory.swap.max", "max\n");
    put(dir / "cpu.weight", "100\n");
    put(dir / "cpu.max", "max 100000\n");
    put(dir / "pids.max", "max\n");
  }

  std::unique_ptr<Cgroup> create_populated(Manager& m, const std::string& id) {
    auto cg = m.create(id);
    populate(root_ / "bocker-test" / id);
    return cg;
  }

  fs::path root_;
};

TEST_F(FakeV2, CreateEnablesOfferedControllersInBothParents) {
  auto m = Manager::v2_at(root_, "bocker-test");
  EXPECT_EQ(m->version(), 2);
  auto cg = m->create("c1");
  EXPECT_TRUE(fs::is_directory(root_ / "bocker-test" / "c1"));
  EXPECT_EQ(slurp(root_ / "cgroup.subtree_control"), "+cpu +memory +pids +io");
  EXPECT_EQ(slurp(root_ / "bocker-test" / "cgroup.subtree_control"), "+cpu +memory +pids +io");
  EXPECT_EQ(cg->path(), "/bocker-test/c1");
  EXPECT_EQ(cg->dirs(), std::vector<std::string>{(root_ / "bocker-test" / "c1").string()});
}

TEST_F(FakeV2, CreateSkipsControllersAlreadyEnabledOrNotOffered) {
  put(root_ / "cgroup.subtree_control", "cpu memory\n");  // the kernel lists enabled ones without '+'
  put(root_ / "bocker-test" / "cgroup.controllers", "cpu memory\n");
  put(root_ / "bocker-test" / "cgroup.subtree_control", "cpu memory\n");
  auto m = Manager::v2_at(root_, "bocker-test");
  m->create("c1");
  EXPECT_EQ(slurp(root_ / "cgroup.subtree_control"), "+pids +io");
  EXPECT_EQ(slurp(root_ / "bocker-test" / "cgroup.subtree_control"), "cpu memory\n");  // not rewritten
}

TEST_F(FakeV2, CreateMakesTheParentWhenMissing) {
  fs::remove_all(root_ / "bocker-test");
  auto m = Manager::v2_at(root_, "bocker-test");
  // A real kernel populates the new parent with cgroup.controllers; the fake tree does not, so the
  // error must name the file it could not read.
  try {
    m->create("c1");
    FAIL() << "create succeeded without the parent's cgroup.controllers";
  } catch (const SystemError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bocker-test/cgroup.controllers"));
  }
  EXPECT_TRUE(fs::is_directory(root_ / "bocker-test"));
  EXPECT_FALSE(fs::exists(root_ / "bocker-test" / "c1"));
}

TEST_F(FakeV2, ApplyWritesV2Files) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  Limits l;
  l.memory_bytes = 64 << 20;
  l.memory_swap = 96 << 20;
  l.cpu_shares = 512;
  l.cpu_quota_us = 150000;
  l.pids_limit = 20;
  cg->apply(l);
  EXPECT_EQ(slurp(d / "memory.max"), "67108864");
  EXPECT_EQ(slurp(d / "memory.swap.max"), "33554432");  // swap alone: 96M - 64M
  EXPECT_EQ(slurp(d / "cpu.weight"), std::to_string(1 + ((512 - 2) * 9999) / 262142));
  EXPECT_EQ(slurp(d / "cpu.weight"), "20");
  EXPECT_EQ(slurp(d / "cpu.max"), "150000 100000");
  EXPECT_EQ(slurp(d / "pids.max"), "20");
}

TEST_F(FakeV2, ApplyUnlimitedValues) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  cg->apply({.memory_bytes = 16 << 20});
  EXPECT_EQ(slurp(d / "memory.swap.max"), "0");  // swap 0 = same as memory: no swap
  cg->apply({.memory_swap = -1, .cpu_quota_us = -1, .cpu_period_us = 50000, .pids_limit = -1});
  EXPECT_EQ(slurp(d / "memory.swap.max"), "max");
  EXPECT_EQ(slurp(d / "memory.max"), "16777216");  // 0 leaves it alone
  EXPECT_EQ(slurp(d / "cpu.max"), "max 50000");
  EXPECT_EQ(slurp(d / "pids.max"), "max");
  EXPECT_EQ(slurp(d / "cpu.weight"), "100\n");  // untouched
}

TEST_F(FakeV2, ApplyWithoutSwapAccountingSkipsSwapFile) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  fs::remove(d / "memory.swap.max");
  cg->apply({.memory_bytes = 16 << 20, .memory_swap = 32 << 20});
  EXPECT_EQ(slurp(d / "memory.max"), "16777216");
  EXPECT_FALSE(fs::exists(d / "memory.swap.max"));
}

TEST_F(FakeV2, BadLimitsChangeNothing) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  Limits l;
  l.cpu_shares = 512;
  l.pids_limit = 10;
  l.memory_bytes = 1 << 20;  // below docker's 6 MB
  try {
    cg->apply(l);
    FAIL() << "1 MB accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_THAT(e.what(), HasSubstr("Minimum memory limit allowed is 6MB"));
  }
  EXPECT_EQ(slurp(d / "memory.max"), "max\n");
  EXPECT_EQ(slurp(d / "cpu.weight"), "100\n");
  EXPECT_EQ(slurp(d / "pids.max"), "max\n");
}

TEST_F(FakeV2, WriteErrorNamesFileAndValue) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = m->create("c1");  // not populated: pids.max does not exist
  try {
    cg->apply({.pids_limit = 7});
    FAIL() << "write to a missing file succeeded";
  } catch (const SystemError& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("write \"7\" to " + (root_ / "bocker-test" / "c1" / "pids.max").string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
    EXPECT_EQ(e.code().value(), ENOENT);
  }
}

TEST_F(FakeV2, StatsParsesSampleFiles) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  put(d / "cpu.stat",
      "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\nnr_periods 10\nnr_throttled 2\n"
      "throttled_usec 3000\n");
  put(d / "memory.current", "33554432\n");
  put(d / "memory.max", "67108864\n");
  put(d / "memory.stat", "anon 25165824\nfile 8388608\ninactive_file 4194304\nactive_file 4194304\n");
  put(d / "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  put(d / "pids.current", "2\n");
  put(d / "pids.max", "20\n");
  put(d / "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
  Stats s = cg->stats();
  EXPECT_EQ(s.cpu_usage_ns, 250000000u);
  EXPECT_EQ(s.cpu_user_ns, 200000000u);
  EXPECT_EQ(s.cpu_system_ns, 50000000u);
  EXPECT_EQ(s.cpu_throttled_periods, 2u);
  EXPECT_EQ(s.memory_usage, 33554432u);
  EXPECT_EQ(s.memory_limit, 67108864u);
  EXPECT_EQ(s.memory_rss, 25165824u);
  EXPECT_EQ(s.memory_cache, 8388608u);
  EXPECT_EQ(s.memory_working_set, 33554432u - 4194304u);
  EXPECT_EQ(s.oom_events, 1u);
  EXPECT_EQ(s.pids_current, 2u);
  EXPECT_EQ(s.pids_limit, 20u);
  EXPECT_EQ(s.io_read_bytes, 4096u);
  EXPECT_EQ(s.io_write_bytes, 8192u);

  // The batched path: read stat_files() elsewhere, hand the contents to parse_stats().
  std::map<std::string, std::string> contents;
  for (const auto& f : cg->stat_files()) {
    EXPECT_EQ(f.rfind(d.string() + "/", 0), 0u) << f;
    if (fs::exists(f)) contents[f] = slurp(f);
  }
  EXPECT_EQ(contents.size(), 8u);
  EXPECT_EQ(cg->parse_stats(contents), s);
}

TEST_F(FakeV2, ProcessesAndKill) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  cg->add_process(4242);
  EXPECT_EQ(slurp(d / "cgroup.procs"), "4242");
  put(d / "cgroup.procs", "");  // the fake "kernel" emptied it
  cg->kill_all(SIGKILL);
  EXPECT_EQ(slurp(d / "cgroup.kill"), "1");
  EXPECT_TRUE(cg->pids().empty());
}

TEST_F(FakeV2, KillAllOtherSignalsFreezesSignalsAndThaws) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  put(d / "cgroup.procs", std::to_string(child) + "\n");  // the fake "kernel" lists a real process
  cg->kill_all(SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_EQ(slurp(d / "cgroup.freeze"), "0");  // written "1" before, "0" after
  EXPECT_EQ(slurp(d / "cgroup.kill"), "");     // only SIGKILL uses cgroup.kill
}

TEST_F(FakeV2, FreezeWritesCgroupFreezeAndWaitsForTheKernelsFrozenEvent) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = create_populated(*m, "c1");
  fs::path d = root_ / "bocker-test" / "c1";
  put(d / "cgroup.events", "populated 1\nfrozen 1\n");  // what the kernel shows once every task stopped
  cg->set_frozen(true);
  EXPECT_EQ(slurp(d / "cgroup.freeze"), "1");
  EXPECT_TRUE(cg->frozen());
  put(d / "cgroup.events", "populated 1\nfrozen 0\n");
  cg->set_frozen(false);
  EXPECT_EQ(slurp(d / "cgroup.freeze"), "0");
  EXPECT_FALSE(cg->frozen());
  // The "kernel" never reports frozen: an error after ~2 s, and the cgroup is thawed again.
  try {
    cg->set_frozen(true);
    FAIL() << "set_frozen(true) returned without the frozen event";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kTimeout);
    EXPECT_THAT(e.what(), HasSubstr("thawed again"));
  }
  EXPECT_EQ(slurp(d / "cgroup.freeze"), "0");
}

TEST_F(FakeV2, DirFdForCloneIsTheCgroupDirectory) {
  auto m = Manager::v2_at(root_, "bocker-test");
  auto cg = m->create("c1");
  int fd = cg->dir_fd_for_clone();
  ASSERT_GE(fd, 0);
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(fd, &a), 0);
  ASSERT_EQ(::stat((root_ / "bocker-test" / "c1").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_TRUE(S_ISDIR(a.st_mode));
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
}

TEST_F(FakeV2, ListOpenRemove) {
  auto m = Manager::v2_at(root_, "bocker-test");
  m->create("b");
  m->create("a");
  EXPECT_EQ(m->list(), (std::vector<std::string>{"a", "b"}));
  auto cg = m->open("a");
  EXPECT_EQ(cg->path(), "/bocker-test/a");
  cg->remove();
  EXPECT_FALSE(fs::exists(root_ / "bocker-test" / "a"));
  EXPECT_NO_THROW(cg->remove());  // already gone is fine
  EXPECT_EQ(m->list(), std::vector<std::string>{"b"});
  try {
    m->open("a");
    FAIL() << "opened a removed cgroup";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
  }
}

TEST_F(FakeV2, RejectsIdsThatAreNotPlainNames) {
  auto m = Manager::v2_at(root_, "bocker-test");
  for (const char* bad : {"", ".", "..", "../escape", "a/b", "sp ace", "nul\x01"}) {
    try {
      m->create(bad);
      FAIL() << "accepted id " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    }
  }
  EXPECT_FALSE(fs::exists(root_ / "escape"));
  EXPECT_THROW(Manager::v2_at(root_, "../x"), Error);
  EXPECT_THROW(Manager::v2_at((root_ / "nope").string(), "bocker-test"), Error);
}

}  // namespace
}  // namespace bocker::cgroup
