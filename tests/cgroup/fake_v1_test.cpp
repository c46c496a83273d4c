// cgroup v1 against a FAKE tree of hierarchies in a temp directory (plain files, no kernel): checks
// the layout logic the real v1 tests cannot reach on this host, such as co-mounted cpu,cpuacct and
// a missing controller.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
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

class FakeV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bocker-fakev1-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    for (const char* h : {"cpu,cpuacct", "memory", "net_cls"}) fs::create_directories(root_ / h);
    controllers_ = {{"cpu", (root_ / "cpu,cpuacct").string()},
                    {"cpuacct", (root_ / "cpu,cpuacct").string()},
                    {"memory", (root_ / "memory").string()},
                    {"net_cls", (root_ / "net_cls").string()}};
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  std::map<std::string, std::string> controllers_;
};

TEST_F(FakeV1, CoMountedControllersShareOneDirectory) {
  auto m = Manager::v1_at(controllers_, "bocker-test");
  EXPECT_EQ(m->version(), 1);
  auto cg = m->create("c1");
  // net_cls is not a controller containers join.
  EXPECT_EQ(cg->dirs(), (std::vector<std::string>{(root_ / "cpu,cpuacct" / "bocker-test" / "c1").string(),
                                                  (root_ / "memory" / "bocker-test" / "c1").string()}));
  EXPECT_FALSE(fs::exists(root_ / "net_cls" / "bocker-test"));
  put(root_ / "cpu,cpuacct" / "bocker-test" / "c1" / "cgroup.procs", "");
  put(root_ / "memory" / "bocker-test" / "c1" / "cgroup.procs", "");
  cg->add_process(77);
  EXPECT_EQ(slurp(root_ / "cpu,cpuacct" / "bocker-test" / "c1" / "cgroup.procs"), "77");
  EXPECT_EQ(slurp(root_ / "memory" / "bocker-test" / "c1" / "cgroup.procs"), "77");
  EXPECT_EQ(m->list(), std::vector<std::string>{"c1"});
}

TEST_F(FakeV1, StatFilesFollowTheHierarchies) {
  auto m = Manager::v1_at(controllers_, "bocker-test");
  auto cg = m->create("c1");
  fs::path cpu = root_ / "cpu,cpuacct" / "bocker-test" / "c1";
  fs::path mem = root_ / "memory" / "bocker-test" / "c1";
  std::vector<std::string> want{(cpu / "cpuacct.usage").string(),
                                (cpu / "cpuacct.stat").string(),
                                (cpu / "cpu.stat").string(),
                                (mem / "memory.usage_in_bytes").string(),
                                (mem / "memory.limit_in_bytes").string(),
                                (mem / "memory.stat").string(),
                                (mem / "memory.oom_control").string()};
  EXPECT_EQ(cg->stat_files(), want);  // no pids or blkio hierarchy: not read
  put(cpu / "cpuacct.usage", "5000\n");
  put(mem / "memory.usage_in_bytes", "8192\n");
  put(mem / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  Stats s = cg->stats();
  EXPECT_EQ(s.cpu_usage_ns, 5000u);
  EXPECT_EQ(s.memory_usage, 8192u);
  EXPECT_EQ(s.oom_events, 2u);
}

TEST_F(FakeV1, LimitForAMissingControllerIsUnsupported) {
  auto m = Manager::v1_at(controllers_, "bocker-test");
  auto cg = m->create("c1");
  try {
    cg->apply({.pids_limit = 10});
    FAIL() << "pids limit applied without a pids hierarchy";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    EXPECT_THAT(e.what(), HasSubstr("pids controller is not mounted"));
  }
}

TEST_F(FakeV1, MemoryWithoutSwapAccountingWritesOnlyTheLimit) {
  auto m = Manager::v1_at(controllers_, "bocker-test");
  auto cg = m->create("c1");
  fs::path mem = root_ / "memory" / "bocker-test" / "c1";
  put(mem / "memory.limit_in_bytes", "9223372036854771712\n");
  cg->apply({.memory_bytes = 16 << 20, .memory_swap = 32 << 20});
  EXPECT_EQ(slurp(mem / "memory.limit_in_bytes"), "16777216");
  EXPECT_FALSE(fs::exists(mem / "memory.memsw.limit_in_bytes"));
}

TEST_F(FakeV1, RemoveTakesEveryHierarchyAndCreateRollsBackOnFailure) {
  auto m = Manager::v1_at(controllers_, "bocker-test");
  auto cg = m->create("c1");
  cg->remove();
  EXPECT_FALSE(fs::exists(root_ / "cpu,cpuacct" / "bocker-test" / "c1"));
  EXPECT_FALSE(fs::exists(root_ / "memory" / "bocker-test" / "c1"));
  EXPECT_THROW(m->open("c1"), Error);

  // A file where the memory hierarchy's parent directory should be: create fails and leaves
  // nothing behind in the hierarchies it had already done.
  fs::remove_all(root_ / "cpu,cpuacct" / "bocker-test");
  fs::remove_all(root_ / "memory" / "bocker-test");
  put(root_ / "memory" / "bocker-test", "not a directory");
  try {
    m->create("c2");
    FAIL() << "create succeeded over a file";
  } catch (const SystemError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mkdir " + (root_ / "memory" / "bocker-test").string()));
  }
  EXPECT_FALSE(fs::exists(root_ / "cpu,cpuacct" / "bocker-test"));
}

TEST_F(FakeV1, NeedsAtLeastOneJoinedController) {
  EXPECT_THROW(Manager::v1_at({{"net_cls", root_ / "net_cls"}}, "bocker-test"), Error);
  EXPECT_THROW(Manager::v1_at(controllers_, "a/b"), Error);
}

}  // namespace
}  // namespace bocker::cgroup
