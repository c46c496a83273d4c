// Namespaces, mounts, masked paths, capabilities and seccomp inside a spawned container.
#include <gmock/gmock.h>

#include "spawn_fixture.hpp"

namespace bocker::container::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(SpawnTest, CommandIsPid1) {
  auto r = run(sh("echo $$"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

TEST_F(SpawnTest, HostProcessesAreInvisible) {
  auto r = run(sh("ls /proc | grep -cE '^[0-9]+$'"));
  ASSERT_EQ(r.code, 0) << r.err;
  int n = std::stoi(r.out);
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 3) << "pids visible in the container: " << r.out;
}

TEST_F(SpawnTest, HostMountsAreInvisible) {
  auto r = run(spec({"/bin/cat", "/proc/self/mountinfo"}));
  ASSERT_EQ(r.code, 0) << r.err;
  // Field 5 is the mount point as the container sees it.
  std::vector<std::string> points;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    f >> id >> parent >> dev >> root >> point;
    points.push_back(point);
  }
  ASSERT_FALSE(points.empty());
  EXPECT_EQ(points.front(), "/");
  for (const auto& p : points) {
    EXPECT_TRUE(p == "/" || p.starts_with("/proc") || p.starts_with("/dev") || p.starts_with("/sys")) << p;
  }
  EXPECT_THAT(points, ::testing::Contains("/dev/pts"));
  EXPECT_THAT(points, ::testing::Contains("/dev/mqueue"));
  EXPECT_LT(points.size(), 30u);
}

TEST_F(SpawnTest, HostnameIsSet) {
  auto r = run(sh("hostname; echo $HOSTNAME"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "bocker-test\nbocker-test\n");
}

TEST_F(SpawnTest, DevHasDockersNodes) {
  auto r =
      run(sh("ls -A /dev | sort | tr '\\n' ' '; echo; head -c 5 /dev/zero | wc -c; "
             "echo x > /dev/null && echo null-ok; stat -c %a /dev/null"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* n : {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "mqueue",
                        "fd", "stdin", "stdout", "stderr"}) {
    EXPECT_THAT(r.out, HasSubstr(std::string(" ") + n + " ")) << n;
  }
  EXPECT_THAT(r.out, HasSubstr("\n5\nnull-ok\n666\n"));
  // Nothing of the host's /dev (its disks) leaks in.
  EXPECT_THAT(r.out, Not(HasSubstr("vda")));
}

TEST_F(SpawnTest, ProcSysIsReadOnly) {
  auto r = run(sh("echo 1 > /proc/sys/vm/drop_caches"));
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.err, HasSubstr("Read-only file system"));
  auto w = run(sh("grep ' /proc/sys ' /proc/self/mountinfo"));
  EXPECT_THAT(w.out, HasSubstr(" ro,"));
}

TEST_F(SpawnTest, SysIsReadOnly) {
  auto r = run(sh("touch /sys/kernel/x 2>&1; grep ' /sys ' /proc/self/mountinfo"));
  EXPECT_THAT(r.out, HasSubstr(" ro,"));
}

TEST_F(SpawnTest, MaskedPathsAreEmpty) {
  std::string script = "ls -A /sys/firmware | wc -l";
  std::string expect = "0\n";
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list"}) {
    if (!std::filesystem::exists(p)) continue;  // not built into this kernel
    script += std::string("; wc -c < ") + p;
    expect += "0\n";
  }
  auto r = run(sh(script));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, expect);
  auto m = run(sh("grep -c -E ' /proc/(keys|timer_list|acpi|kcore) | /sys/firmware ' /proc/self/mountinfo"));
  EXPECT_GE(std::stoi(m.out), 2);
}

TEST_F(SpawnTest, DockerDefaultCapabilities) {
  auto r = run(sh("grep Cap /proc/self/status"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("CapInh:\t0000000000000000"));
  EXPECT_THAT(r.out, HasSubstr("CapPrm:\t00000000a80425fb"));
  EXPECT_THAT(r.out, HasSubstr("CapEff:\t00000000a80425fb"));
  EXPECT_THAT(r.out, HasSubstr("CapBnd:\t00000000a80425fb"));
  EXPECT_THAT(r.out, HasSubstr("CapAmb:\t0000000000000000"));
}

TEST_F(SpawnTest, NoNewPrivsAndSeccompFilter) {
  auto r = run(sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "NoNewPrivs:\t1\nSeccomp:\t2\n");
}

TEST_F(SpawnTest, SeccompWithoutNoNewPrivs) {
  auto s = sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status");
  s.no_new_privileges = false;
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "NoNewPrivs:\t0\nSeccomp:\t2\n");
}

TEST_F(SpawnTest, SeccompOff) {
  auto s = sh("grep -E '^Seccomp:' /proc/self/status");
  s.seccomp = false;
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Seccomp:\t0\n");
}

TEST_F(SpawnTest, SeccompBlocksNamespaceCreation) {
  // unshare(CLONE_NEWUTS) is outside the profile: EPERM even before the capability check.
  auto r = run(sh("unshare -u true 2>&1; echo rc=$?"));
  EXPECT_THAT(r.out, Not(HasSubstr("rc=0")));
}

TEST_F(SpawnTest, NewNetworkNamespaceHasOnlyLoopback) {
  auto r = run(sh("ls /sys/class/net | tr '\\n' ' '"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "lo ");
}

TEST_F(SpawnTest, HostNetworkSharesInterfaces) {
  auto s = sh("ls /sys/class/net | wc -l");
  s.new_network = false;
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  size_t host = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/sys/class/net")) ++host;
  EXPECT_EQ(std::stoul(r.out), host);
}

TEST_F(SpawnTest, ReadonlyRootfs) {
  auto s = sh("touch /should-fail 2>&1; echo rc=$?; echo ok > /dev/shm/x && cat /dev/shm/x");
  s.readonly_rootfs = true;
  auto r = run(s);
  EXPECT_THAT(r.out, HasSubstr("Read-only file system"));
  EXPECT_THAT(r.out, HasSubstr("rc=1"));
  EXPECT_THAT(r.out, HasSubstr("ok\n"));
  EXPECT_FALSE(std::filesystem::exists(rootfs() + "/should-fail"));
}

}  // namespace
}  // namespace bocker::container::testing
