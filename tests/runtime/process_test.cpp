// Child exit through IORING_OP_WAITID and through the pidfd POLL fallback; signals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "bocker/runtime/runtime.hpp"

using namespace std::chrono_literals;
namespace rt = bocker::rt;

namespace {

pid_t fork_child(int code, int sleep_ms, int signal = 0) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (sleep_ms > 0) ::usleep(static_cast<useconds_t>(sleep_ms) * 1000);
    if (signal != 0) ::raise(signal);
    ::_exit(code);
  }
  return pid;
}

rt::Task<rt::ExitStatus> wait_child(pid_t pid) {
  bocker::Fd pidfd = rt::pidfd_open(pid);
  co_return co_await rt::wait_exit(pidfd.get());
}

class ProcessExit : public ::testing::TestWithParam<bool> {};

TEST_P(ProcessExit, ExitCodeAndSignal) {
  rt::Loop loop;
  bool use_waitid = GetParam();
  if (use_waitid && !loop.has_waitid()) GTEST_SKIP() << "kernel lacks IORING_OP_WAITID";
  loop.set_waitid(use_waitid);
  ASSERT_EQ(loop.has_waitid(), use_waitid);

  auto st = loop.run(wait_child(fork_child(7, 20)));
  EXPECT_EQ(st.code, 7);
  EXPECT_EQ(st.signal, 0);

  st = loop.run(wait_child(fork_child(0, 0, SIGKILL)));
  EXPECT_EQ(st.signal, SIGKILL);
  EXPECT_EQ(st.code, 128 + SIGKILL);
  EXPECT_NE(st.describe().find("signal 9"), std::string::npos) << st.describe();

  // Reaped: no zombie left behind for waitpid to find.
  pid_t pid = fork_child(3, 0);
  st = loop.run(wait_child(pid));
  EXPECT_EQ(st.code, 3);
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_P(ProcessExit, ManyChildrenConcurrently) {
  rt::Loop loop;
  if (GetParam() && !loop.has_waitid()) GTEST_SKIP() << "kernel lacks IORING_OP_WAITID";
  loop.set_waitid(GetParam());
  auto body = []() -> rt::Task<void> {
    std::vector<rt::Task<rt::ExitStatus>> ts;
    for (int i = 0; i < 50; ++i) ts.push_back(wait_child(fork_child(i, 50 - i)));
    auto all = co_await rt::when_all(std::move(ts));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)].code, i);
  };
  loop.run(body());
}

TEST_P(ProcessExit, WaitIsCancellable) {
  rt::Loop loop;
  if (GetParam() && !loop.has_waitid()) GTEST_SKIP() << "kernel lacks IORING_OP_WAITID";
  loop.set_waitid(GetParam());
  pid_t pid = fork_child(0, 10000);
  bocker::Fd pidfd = rt::pidfd_open(pid);
  auto body = [](int fd) -> rt::Task<void> {
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(co_await rt::with_timeout(rt::wait_exit(fd), 30ms), bocker::Error);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  };
  loop.run(body(pidfd.get()));
  ASSERT_EQ(rt::pidfd_kill(pidfd.get(), SIGKILL), 0);
  auto st = loop.run(rt::wait_exit(pidfd.get()));
  EXPECT_EQ(st.signal, SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(Both, ProcessExit, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Waitid" : "PollFallback"; });

TEST(Signals, SignalfdDeliversOnTheLoop) {
  rt::SignalSet sigs{SIGUSR1};
  rt::Loop loop;
  auto body = [](rt::SignalSet& s) -> rt::Task<int> {
    rt::TaskScope scope;
    scope.spawn([]() -> rt::Task<void> {
      co_await rt::sleep_for(5ms);
      ::kill(::getpid(), SIGUSR1);
    }());
    int sig = co_await s.next();
    co_await scope.join();
    co_return sig;
  };
  EXPECT_EQ(loop.run(body(sigs)), SIGUSR1);
}

}  // namespace
