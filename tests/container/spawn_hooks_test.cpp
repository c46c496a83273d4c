// The hooks other modules use: a terminal as stdio, CLONE_INTO_CGROUP, joining a prepared
// network namespace, and how a failing setup step is reported.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include "spawn_fixture.hpp"

namespace bocker::container::testing {
namespace {

using ::testing::HasSubstr;

// The cgroup2 mount point on this host ("" when there is none).
std::string cgroup2_root() {
  std::istringstream lines(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    return point;
  }
  return {};
}

TEST_F(SpawnTest, TerminalBecomesControllingTty) {
  Fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master) << "posix_openpt: " << errno_text(errno);
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  Fd slave(::open(::ptsname(master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave);
  auto s = sh("[ -t 0 ] && [ -t 1 ] && echo isatty; echo tty_nr=$(cut -d' ' -f7 /proc/self/stat)");
  s.stdin_fd = s.stdout_fd = s.stderr_fd = slave.get();
  s.tty = true;
  Spawned c = spawn(s);
  slave.reset();
  std::string out;
  char buf[512];
  while (true) {
    pollfd p{master.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::read(master.get(), buf, sizeof buf);
    if (n <= 0) break;  // EIO once the last slave fd is closed
    out.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(wait_code(c.pidfd.get()), 0);
  EXPECT_THAT(out, HasSubstr("isatty"));
  EXPECT_THAT(out, HasSubstr("tty_nr="));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("tty_nr=0\r")));
}

TEST_F(SpawnTest, CloneIntoCgroup) {
  std::string root = cgroup2_root();
  if (root.empty()) GTEST_SKIP() << "no cgroup2 hierarchy mounted";
  std::string cg = root + "/bocker-spawn-test-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(cg.c_str(), 0755), 0) << errno_text(errno);
  std::string host_view;
  {
    Fd dir(::open(cg.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(dir);
    auto s = sh("cat /proc/self/cgroup");
    s.cgroup_fd = dir.get();
    auto r = run(s, [&](pid_t pid) { host_view = read_text("/proc/" + std::to_string(pid) + "/cgroup"); });
    EXPECT_EQ(r.code, 0) << r.err;
    // The host sees the process in the new cgroup; inside, the cgroup namespace makes it "/".
    EXPECT_THAT(host_view, HasSubstr("0::/bocker-spawn-test-"));
    EXPECT_THAT(r.out, HasSubstr("0::/\n"));
  }
  EXPECT_EQ(::rmdir(cg.c_str()), 0) << errno_text(errno);
}

TEST_F(SpawnTest, JoinsAGivenNetworkNamespace) {
  Fd host_ns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(host_ns);
  auto s = sh("readlink /proc/self/ns/net");
  s.netns_fd = host_ns.get();
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  char self[128] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", self, sizeof self - 1), 0);
  EXPECT_EQ(r.out, std::string(self) + "\n");
  // Without it, the container's namespace is a new one.
  auto fresh = run(sh("readlink /proc/self/ns/net"));
  EXPECT_NE(fresh.out, std::string(self) + "\n");
}

TEST_F(SpawnTest, FailingStepIsNamed) {
  auto s = sh("true");
  s.extra_mounts.push_back(Mount{"none", "/mnt/bad", "nosuchfs", 0, "", false, false});
  int before = count_fds();
  try {
    run(s);
    FAIL() << "expected an error";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.exit_code(), 125);
    EXPECT_EQ(e.sys_errno(), ENODEV);
    EXPECT_EQ(std::string(e.what()), "container init: mount " + rootfs() + "/mnt/bad: No such device");
  }
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace bocker::container::testing
