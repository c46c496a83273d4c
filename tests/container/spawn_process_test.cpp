// The container process itself: user, cwd, env, exec errors, stdio, exit codes, the start gate,
// files written into /etc, extra mounts, and what the caller is left with (fds, mounts).
#include <gmock/gmock.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "spawn_fixture.hpp"

namespace bocker::container::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(SpawnTest, UserByName) {
  auto s = sh("id; grep CapEff /proc/self/status");
  s.user = "nobody";
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("uid=65534(nobody) gid=65534(nobody)"));
  EXPECT_THAT(r.out, HasSubstr("CapEff:\t0000000000000000"));
}

TEST_F(SpawnTest, UserNumericWithGroup) {
  auto s = spec({"id"});
  s.user = "1234:daemon";
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("uid=1234 gid=2(daemon)"));
}

TEST_F(SpawnTest, RootGetsSupplementaryGroups) {
  auto r = run(spec({"id"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("uid=0(root) gid=0(root) groups=0(root),1(bin),2(daemon)"));
}

TEST_F(SpawnTest, UnknownUserIsRejectedBeforeStarting) {
  auto s = spec({"id"});
  s.user = "nosuchuser";
  try {
    run(s);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_STREQ(e.what(), "unable to find user nosuchuser: no matching entries in passwd file");
  }
  s.user = "nobody:nosuchgroup";
  EXPECT_THROW(run(s), Error);
}

TEST_F(SpawnTest, CwdIsCreatedInsideTheRoot) {
  auto s = spec({"pwd"});
  s.cwd = "/srv/app/../work/dir";
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "/srv/work/dir\n");
  EXPECT_TRUE(std::filesystem::is_directory(rootfs() + "/srv/work/dir"));
}

TEST_F(SpawnTest, CwdThroughSymlinkStaysInside) {
  // A symlink pointing at the host's /etc resolves inside the container root.
  std::filesystem::remove(rootfs() + "/escape");
  std::filesystem::create_directory_symlink("/var/lib/bocker-spawn-test-escape", rootfs() + "/escape");
  auto s = spec({"pwd"});
  s.cwd = "/escape";
  auto r = run(s);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists("/var/lib/bocker-spawn-test-escape"));
  EXPECT_TRUE(std::filesystem::is_directory(rootfs() + "/var/lib/bocker-spawn-test-escape"));
  std::filesystem::remove(rootfs() + "/escape");
}

TEST_F(SpawnTest, Environment) {
  auto s = spec({"env"});
  s.env = {"FOO=bar baz", "EMPTY="};
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("FOO=bar baz\n"));
  EXPECT_THAT(r.out, HasSubstr("EMPTY=\n"));
  EXPECT_THAT(r.out, HasSubstr("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
  EXPECT_THAT(r.out, HasSubstr("HOSTNAME=bocker-test\n"));
  EXPECT_THAT(r.out, HasSubstr("HOME=/root\n"));
}

TEST_F(SpawnTest, BadEnvironmentIsRejected) {
  auto s = spec({"env"});
  s.env = {"NOEQUALS"};
  EXPECT_THROW(run(s), Error);
}

TEST_F(SpawnTest, CommandNotInPath) {
  int before = count_fds();
  try {
    run(spec({"nosuchcmd", "arg"}));
    FAIL() << "expected an error";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.exit_code(), 127);
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_STREQ(e.what(), "exec: \"nosuchcmd\": executable file not found in $PATH");
  }
  EXPECT_EQ(count_fds(), before);
}

TEST_F(SpawnTest, MissingAbsoluteCommand) {
  int before = count_fds();
  try {
    run(spec({"/bin/nosuch"}));
    FAIL() << "expected an error";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.exit_code(), 127);
    EXPECT_STREQ(e.what(), "exec: \"/bin/nosuch\": no such file or directory");
  }
  EXPECT_EQ(count_fds(), before);
}

TEST_F(SpawnTest, NonExecutableCommand) {
  try {
    run(spec({"/etc/passwd"}));
    FAIL() << "expected an error";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.exit_code(), 126);
    EXPECT_STREQ(e.what(), "exec: \"/etc/passwd\": permission denied");
  }
}

TEST_F(SpawnTest, PathLookupUsesTheContainersPath) {
  std::filesystem::create_directories(rootfs() + "/opt/tools");
  {
    std::ofstream f(rootfs() + "/opt/tools/hello");
    f << "#!/bin/sh\necho hello from tools\n";
  }
  std::filesystem::permissions(rootfs() + "/opt/tools/hello", std::filesystem::perms(0755));
  auto s = spec({"hello"});
  s.env = {"PATH=/opt/tools:/bin"};
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from tools\n");
}

TEST_F(SpawnTest, StdoutStderrAndExitCode) {
  auto r = run(sh("echo out; echo err >&2; exit 42"));
  EXPECT_EQ(r.code, 42);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST_F(SpawnTest, Pid1IgnoresUnhandledSignalsFromInside) {
  auto r = run(sh("kill -9 $$"));
  // PID 1 ignores signals it has no handler for, except SIGKILL/SIGSTOP from an ancestor
  // namespace; from inside, the kill has no effect and the shell exits normally.
  EXPECT_EQ(r.code, 0);
}

TEST_F(SpawnTest, StdinFromPipe) {
  int in[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  Fd in_r(in[0]), in_w(in[1]);
  ASSERT_EQ(::write(in_w.get(), "hello\n", 6), 6);
  in_w.reset();
  auto s = spec({"cat"});
  s.stdin_fd = in_r.get();
  auto r = run(s);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "hello\n");
}

TEST_F(SpawnTest, StartGateRunsBeforeExec) {
  pid_t seen = 0;
  auto r = run(sh("cat /tmp/gate-marker"), [&](pid_t pid) {
    seen = pid;
    std::ofstream(rootfs() + "/tmp/gate-marker") << "pid " << pid << "\n";
  });
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(seen, 1);
  EXPECT_EQ(r.out, "pid " + std::to_string(seen) + "\n");
  std::filesystem::remove(rootfs() + "/tmp/gate-marker");
}

TEST_F(SpawnTest, FailingStartGateKillsTheChild) {
  int before = count_fds();
  pid_t seen = 0;
  EXPECT_THROW(run(sh("echo should not run"),
                   [&](pid_t pid) {
                     seen = pid;
                     throw std::runtime_error("placement failed");
                   }),
               std::runtime_error);
  ASSERT_GT(seen, 0);
  // Reaped: the pid no longer exists as our child.
  EXPECT_NE(::kill(seen, 0), 0);
  EXPECT_EQ(count_fds(), before);
}

TEST_F(SpawnTest, EtcFilesAreWritten) {
  auto s = sh("cat /etc/resolv.conf /etc/hosts /etc/hostname");
  s.resolv_conf = "nameserver 10.0.0.53\n";
  s.hosts = "127.0.0.1 localhost\n";
  s.hostname_file = "bocker-test\n";
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "nameserver 10.0.0.53\n127.0.0.1 localhost\nbocker-test\n");
}

TEST_F(SpawnTest, BindMountVolume) {
  std::string vol = dir_ + "/volume";
  std::filesystem::create_directories(vol);
  std::ofstream(vol + "/data.txt") << "from the host\n";
  auto s = sh("cat /data/vol/data.txt; echo new > /data/vol/new.txt; echo rc=$?");
  s.extra_mounts.push_back(Mount{vol, "/data/vol", "", 0, "", true, false});
  s.extra_mounts.push_back(Mount{"tmpfs", "/scratch", "tmpfs", 0, "size=1m", false, false});
  auto r = run(s);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "from the host\nrc=0\n");
  EXPECT_TRUE(std::filesystem::exists(vol + "/new.txt"));

  auto ro = sh("echo x > /data/vol/ro.txt; echo rc=$?");
  ro.extra_mounts.push_back(Mount{vol, "/data/vol", "", 0, "", true, true});
  auto r2 = run(ro);
  EXPECT_THAT(r2.out, HasSubstr("rc=1"));
  EXPECT_THAT(r2.err, HasSubstr("Read-only file system"));
  EXPECT_FALSE(std::filesystem::exists(vol + "/ro.txt"));
}

TEST_F(SpawnTest, MountTargetSymlinkCannotEscapeTheRoot) {
  std::string vol = dir_ + "/volume2";
  std::filesystem::create_directories(vol);
  std::ofstream(vol + "/f") << "vol\n";
  std::string host_dir = "/tmp/bocker-spawn-escape-" + std::to_string(::getpid());
  std::filesystem::remove(rootfs() + "/link");
  std::filesystem::create_directory_symlink(host_dir, rootfs() + "/link");
  auto s = sh("cat /link/sub/f");
  s.extra_mounts.push_back(Mount{vol, "/link/sub", "", 0, "", true, false});
  auto r = run(s);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "vol\n");
  EXPECT_FALSE(std::filesystem::exists(host_dir)) << "the mount target was created on the host";
  EXPECT_TRUE(std::filesystem::is_directory(rootfs() + host_dir + "/sub"));

  // A symlink as the last component is followed inside the root: the mount lands on the
  // container's /etc, never the host's.
  std::filesystem::create_directory_symlink("/etc", rootfs() + "/etc-link");
  auto last = sh("cat /etc/f /etc-link/f; test -e /etc/passwd; echo rc=$?");
  last.extra_mounts.push_back(Mount{vol, "/etc-link", "", 0, "", true, false});
  auto r2 = run(last);
  EXPECT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.out, "vol\nvol\nrc=1\n");
  EXPECT_FALSE(std::filesystem::exists("/etc/f"));
  std::filesystem::remove(rootfs() + "/etc-link");
  std::filesystem::remove(rootfs() + "/link");
}

TEST_F(SpawnTest, InvalidSpecs) {
  SpawnSpec s = spec({});
  EXPECT_THROW(spawn(s), Error);
  s = spec({"true"});
  s.rootfs = "relative/rootfs";
  EXPECT_THROW(spawn(s), Error);
  s = spec({"true"});
  s.cwd = "relative";
  EXPECT_THROW(spawn(s), Error);
  s = spec({"true"});
  s.rootfs = dir_ + "/does-not-exist";
  EXPECT_THROW(spawn(s), SystemError);
}

TEST_F(SpawnTest, NoLeaksInTheParent) {
  auto r0 = run(spec({"true"}));  // warm up (seccomp program, lazily opened fds)
  ASSERT_EQ(r0.code, 0);
  int before = count_fds();
  for (int i = 0; i < 3; ++i) {
    auto r = run(spec({"true"}));
    EXPECT_EQ(r.code, 0);
  }
  EXPECT_EQ(count_fds(), before);
  EXPECT_EQ(read_text("/proc/self/mountinfo").find(dir_), std::string::npos);
}

TEST_F(SpawnTest, ExecJoinsARunningContainer) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  Fd out_r(out[0]), out_w(out[1]);
  auto s = spec({"sleep", "30"});
  Spawned c = spawn(s);

  ExecSpec e;
  e.argv = {"/bin/sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u; pwd"};
  e.user = "nobody";
  e.cwd = "/tmp";
  e.stdout_fd = out_w.get();
  int before = count_fds();
  Spawned x = spawn_exec(c.pidfd.get(), e);
  EXPECT_EQ(count_fds(), before + 1);  // the exec'd process's pidfd
  out_w.reset();
  RunResult r;
  Fd dummy_r, dummy_w;
  {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    dummy_r.reset(p[0]);
    dummy_w.reset(p[1]);
  }
  dummy_w.reset();
  drain(out_r.get(), dummy_r.get(), r);
  EXPECT_EQ(wait_code(x.pidfd.get()), 0);
  EXPECT_EQ(r.out, "bocker-test\nsleep 30 \n65534\n/tmp\n");

  ExecSpec bad;
  bad.argv = {"nosuchcmd"};
  try {
    spawn_exec(c.pidfd.get(), bad);
    FAIL() << "expected an error";
  } catch (const SpawnError& err) {
    EXPECT_EQ(err.exit_code(), 127);
  }
  ExecSpec badcwd;
  badcwd.argv = {"true"};
  badcwd.cwd = "/no/such/dir";
  EXPECT_THROW(spawn_exec(c.pidfd.get(), badcwd), SpawnError);

  ASSERT_EQ(::syscall(SYS_pidfd_send_signal, c.pidfd.get(), SIGKILL, nullptr, 0), 0);
  EXPECT_EQ(wait_code(c.pidfd.get()), 128 + SIGKILL);
}

}  // namespace
}  // namespace bocker::container::testing
