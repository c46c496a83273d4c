// Shared fixture for the spawn tests: an Alpine root filesystem extracted into a temp dir,
// and a helper that runs a container with its stdout/stderr captured through pipes.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bocker/container/spawn.hpp"

namespace bocker::container::testing {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int count_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

struct RunResult {
  int code = -1;
  std::string out, err;
};

// Reaps the child behind `pidfd`; the exit code, or 128+signal.
inline int wait_code(int pidfd) {
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) < 0) return -1;
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

// Reads both pipes to EOF.
inline void drain(int out_fd, int err_fd, RunResult& r) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* dst[2] = {&r.out, &r.err};
  int open_count = 2;
  while (open_count > 0) {
    if (::poll(fds, 2, 20000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        fds[i].fd = -1;
        --open_count;
      } else {
        dst[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
}

class SpawnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    std::string tarball =
        std::string(BOCKER_SOURCE_DIR) + "/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz";
    if (!std::filesystem::exists(tarball)) return;
    char tmpl[] = "/tmp/bocker-spawn-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/rootfs");
    std::string cmd = "tar -xzf '" + tarball + "' -C '" + dir_ + "/rootfs'";
    if (std::system(cmd.c_str()) != 0) {
      std::filesystem::remove_all(dir_);
      dir_.clear();
    }
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      // The containers' mounts lived in their own mount namespaces: nothing to unmount here.
      EXPECT_EQ(read_text("/proc/self/mountinfo").find(dir_), std::string::npos);
      std::filesystem::remove_all(dir_);
      dir_.clear();
    }
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts)";
    if (dir_.empty()) GTEST_SKIP() << "the Alpine rootfs tarball could not be extracted";
  }

  static std::string rootfs() { return dir_ + "/rootfs"; }

  static SpawnSpec spec(std::vector<std::string> argv) {
    SpawnSpec s;
    s.rootfs = rootfs();
    s.argv = std::move(argv);
    s.hostname = "bocker-test";
    return s;
  }
  static SpawnSpec sh(const std::string& script) { return spec({"/bin/sh", "-c", script}); }

  static RunResult run(SpawnSpec s, const std::function<void(pid_t)>& before = {}) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    Fd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
    s.stdout_fd = out_w.get();
    s.stderr_fd = err_w.get();
    Spawned child = spawn(s, before);
    out_w.reset();
    err_w.reset();
    RunResult r;
    drain(out_r.get(), err_r.get(), r);
    r.code = wait_code(child.pidfd.get());
    return r;
  }

  static inline std::string dir_;
};

}  // namespace bocker::container::testing
