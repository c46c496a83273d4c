// Tasks, scopes, when_all, timeouts and cancellation on a real io_uring loop.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "bocker/runtime/runtime.hpp"

using namespace std::chrono_literals;
namespace rt = bocker::rt;

namespace {

struct Pipe {
  bocker::Fd r, w;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw bocker::SystemError(errno, "pipe2", "");
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

rt::Task<int> value(int v) { co_return v; }

rt::Task<int> add_chain(int depth) {
  if (depth == 0) co_return 0;
  int below = co_await add_chain(depth - 1);
  co_return below + 1;
}

rt::Task<void> thrower() {
  co_await rt::nop();
  throw std::runtime_error("boom from inside");
}

TEST(Task, ReturnsValueThroughRun) {
  rt::Loop loop;
  EXPECT_EQ(loop.run(value(42)), 42);
}

TEST(Task, DeepAwaitChain) {
  rt::Loop loop;
  // Deep chains resume through symmetric transfer (a tail call in optimised builds).
  EXPECT_EQ(loop.run(add_chain(10000)), 10000);
}

TEST(Task, ExceptionsCrossCoAwait) {
  rt::Loop loop;
  auto outer = []() -> rt::Task<std::string> {
    try {
      co_await thrower();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught: ") + e.what();
    }
    co_return "not thrown";
  };
  EXPECT_EQ(loop.run(outer()), "caught: boom from inside");
  EXPECT_THROW(loop.run(thrower()), std::runtime_error);
}

TEST(Task, LazyUntilAwaited) {
  rt::Loop loop;
  bool started = false;
  auto t = [](bool& s) -> rt::Task<void> {
    s = true;
    co_return;
  }(started);
  EXPECT_FALSE(started);
  loop.run(std::move(t));
  EXPECT_TRUE(started);
}

TEST(Scope, SpawnedTasksRunInOrderAndJoin) {
  rt::Loop loop;
  std::vector<int> order;
  auto body = [](std::vector<int>& out) -> rt::Task<void> {
    rt::TaskScope scope;
    for (int i = 0; i < 5; ++i) {
      scope.spawn([](std::vector<int>& o, int n) -> rt::Task<void> {
        o.push_back(n);
        co_return;
      }(out, i));
    }
    EXPECT_TRUE(out.empty()) << "spawned tasks start on the next iteration, not inline";
    co_await scope.join();
  };
  loop.run(body(order));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(Scope, TimersCompleteInDeadlineOrder) {
  rt::Loop loop;
  std::vector<int> order;
  auto body = [](std::vector<int>& out) -> rt::Task<void> {
    rt::TaskScope scope;
    for (int ms : {30, 10, 20}) {
      scope.spawn([](std::vector<int>& o, int m) -> rt::Task<void> {
        EXPECT_TRUE(co_await rt::sleep_for(std::chrono::milliseconds(m)));
        o.push_back(m);
      }(out, ms));
    }
    co_await scope.join();
  };
  loop.run(body(order));
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST(Scope, HundredThousandConcurrentTasks) {
  rt::Loop loop({.entries = 4096, .workers = 1});
  constexpr int kTasks = 100000;
  long sum = 0;
  auto body = [](long& total) -> rt::Task<void> {
    rt::TaskScope scope;
    for (int i = 0; i < kTasks; ++i) {
      scope.spawn([](long& t, int n) -> rt::Task<void> {
        co_await rt::nop();  // every task really suspends on the ring
        t += n;
      }(total, i));
    }
    EXPECT_EQ(scope.size(), static_cast<std::size_t>(kTasks));
    co_await scope.join();
  };
  auto before = rt::tasks_alive();
  loop.run(body(sum));
  EXPECT_EQ(sum, static_cast<long>(kTasks) * (kTasks - 1) / 2);
  EXPECT_EQ(rt::tasks_alive(), before) << "every task frame is freed";
  EXPECT_GE(loop.stats().completions, static_cast<std::uint64_t>(kTasks));
}

TEST(Cancel, PendingReadIsCancelled) {
  rt::Loop loop;
  Pipe p;
  auto body = [](int fd) -> rt::Task<int> {
    rt::TaskScope scope;
    int result = 1;
    scope.spawn([](int f, int& out) -> rt::Task<void> {
      char buf[16];
      out = co_await rt::read(f, buf, sizeof buf);
    }(fd, result));
    co_await rt::sleep_for(5ms);  // let the read reach the kernel
    EXPECT_EQ(result, 1) << "nothing written yet, the read must still be pending";
    scope.cancel();
    co_await scope.join();
    co_return result;
  };
  EXPECT_EQ(loop.run(body(p.r.get())), -ECANCELED);
}

TEST(Cancel, PendingTimerIsCancelledAndNewOpsFailFast) {
  rt::Loop loop;
  auto body = []() -> rt::Task<void> {
    rt::TaskScope scope;
    bool slept = true;
    int after = 0;
    auto start = std::chrono::steady_clock::now();
    scope.spawn([](bool& s, int& a) -> rt::Task<void> {
      s = co_await rt::sleep_for(10s);
      a = co_await rt::nop();  // scope already cancelled: fails without reaching the ring
    }(slept, after));
    co_await rt::sleep_for(2ms);
    scope.cancel();
    co_await scope.join();
    EXPECT_FALSE(slept);
    EXPECT_EQ(after, -ECANCELED);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  };
  loop.run(body());
}

TEST(Timeout, ExpiresAndCancelsTheTask) {
  rt::Loop loop;
  Pipe p;
  auto body = [](int fd) -> rt::Task<void> {
    auto reader = [](int f) -> rt::Task<int> {
      char buf[8];
      int n = co_await rt::read(f, buf, sizeof buf);
      co_return n;
    };
    auto start = std::chrono::steady_clock::now();
    try {
      co_await rt::with_timeout(reader(fd), 20ms);
      ADD_FAILURE() << "expected a timeout";
    } catch (const bocker::Error& e) {
      EXPECT_EQ(e.kind(), bocker::Error::Kind::kTimeout);
      EXPECT_NE(std::string(e.what()).find("timed out after 20 ms"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  };
  loop.run(body(p.r.get()));
}

TEST(Timeout, ReturnsValueWhenInTime) {
  rt::Loop loop;
  Pipe p;
  ASSERT_EQ(::write(p.w.get(), "hi", 2), 2);
  auto body = [](int fd) -> rt::Task<int> {
    char buf[8];
    co_return co_await rt::with_timeout(rt::read(fd, buf, sizeof buf), 1s);
  };
  EXPECT_EQ(loop.run(body(p.r.get())), 2);
}

TEST(Timeout, LinkedTimeoutOnOneOp) {
  rt::Loop loop;
  Pipe p;
  auto body = [](int rfd, int wfd) -> rt::Task<void> {
    char buf[8];
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await rt::read(rfd, buf, sizeof buf).timeout(20ms), -ETIMEDOUT);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(::write(wfd, "abc", 3), 3);
    EXPECT_EQ(co_await rt::read(rfd, buf, sizeof buf).timeout(1s), 3);
    // Cancelling the scope still reads as -ECANCELED, not as a timeout.
    rt::TaskScope scope;
    int res = 0;
    scope.spawn([](int f, int& out) -> rt::Task<void> {
      char b[8];
      out = co_await rt::read(f, b, sizeof b).timeout(10s);
    }(rfd, res));
    co_await rt::sleep_for(5ms);
    scope.cancel();
    co_await scope.join();
    EXPECT_EQ(res, -ECANCELED);
  };
  loop.run(body(p.r.get(), p.w.get()));
}

TEST(WhenAll, CollectsValuesInOrder) {
  rt::Loop loop;
  auto body = []() -> rt::Task<std::vector<int>> {
    std::vector<rt::Task<int>> ts;
    for (int i = 0; i < 10; ++i) {
      ts.push_back([](int n) -> rt::Task<int> {
        co_await rt::sleep_for(std::chrono::milliseconds(10 - n));
        co_return n * n;
      }(i));
    }
    co_return co_await rt::when_all(std::move(ts));
  };
  auto v = loop.run(body());
  ASSERT_EQ(v.size(), 10U);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], i * i);
}

TEST(WhenAll, FirstErrorCancelsSiblings) {
  rt::Loop loop;
  auto body = []() -> rt::Task<void> {
    std::vector<rt::Task<void>> ts;
    bool sibling_cancelled = false;
    ts.push_back([](bool& c) -> rt::Task<void> { c = !(co_await rt::sleep_for(10s)); }(sibling_cancelled));
    ts.push_back([]() -> rt::Task<void> {
      co_await rt::sleep_for(1ms);
      throw std::runtime_error("second failed");
    }());
    auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(co_await rt::when_all(std::move(ts)), std::runtime_error);
    EXPECT_TRUE(sibling_cancelled);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  };
  loop.run(body());
}

TEST(Offload, RunsOnWorkerAndResumesOnLoop) {
  rt::Loop loop;
  auto body = []() -> rt::Task<void> {
    auto loop_thread = std::this_thread::get_id();
    auto worker_thread = co_await rt::offload([] { return std::this_thread::get_id(); });
    EXPECT_NE(worker_thread, loop_thread);
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
    EXPECT_THROW(co_await rt::offload([]() -> int { throw std::logic_error("worker threw"); }), std::logic_error);
    // Many jobs at once complete and each returns its own value.
    std::vector<rt::Task<int>> ts;
    for (int i = 0; i < 200; ++i) {
      ts.push_back([](int n) -> rt::Task<int> { co_return co_await rt::offload([n] { return n + 1; }); }(i));
    }
    auto v = co_await rt::when_all(std::move(ts));
    for (int i = 0; i < 200; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], i + 1);
  };
  loop.run(body());
}

TEST(Io, SocketPairRoundTripAndSplice) {
  rt::Loop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  bocker::Fd a(sv[0]), b(sv[1]);
  Pipe out, mid;
  auto body = [](int a, int b, int pr, int pw, int outw) -> rt::Task<void> {
    std::string msg(100000, 'x');
    rt::TaskScope scope;
    scope.spawn([](int fd, std::string m) -> rt::Task<void> {
      EXPECT_EQ(co_await rt::write_all(fd, m, true), static_cast<long>(m.size()));
      EXPECT_EQ(co_await rt::shutdown(fd, SHUT_WR), 0);
    }(a, msg));
    long total = 0;
    for (;;) {
      long n = co_await rt::splice_through(b, outw, pr, pw, 65536);
      EXPECT_GE(n, 0);
      if (n < 0) break;
      if (n == 0) break;
      total += n;
      if (total >= static_cast<long>(msg.size())) break;
    }
    EXPECT_EQ(total, static_cast<long>(msg.size()));
    co_await scope.join();
  };
  // The output pipe must hold 100 KB without a reader: grow it.
  ASSERT_GT(::fcntl(out.w.get(), F_SETPIPE_SZ, 1 << 20), 0);
  loop.run(body(a.get(), b.get(), mid.r.get(), mid.w.get(), out.w.get()));
}

}  // namespace

namespace {

TEST(Notifier, NotifyAllWakesEveryWaiterAndCancelReachesAWait) {
  rt::Loop loop;
  auto body = []() -> rt::Task<void> {
    rt::Notifier n;
    int woken = 0;
    rt::TaskScope scope;
    for (int i = 0; i < 3; ++i) {
      scope.spawn([](rt::Notifier& nn, int& w) -> rt::Task<void> {
        co_await nn.wait();
        ++w;
      }(n, woken));
    }
    co_await rt::nop();
    co_await rt::nop();
    EXPECT_EQ(n.waiting(), 3U);
    n.notify_all();
    co_await scope.join();
    EXPECT_EQ(woken, 3);

    // A cancelled scope ends the wait with Error(kCancelled) instead of hanging.
    bool cancelled = false;
    rt::TaskScope waiters;
    waiters.spawn([](rt::Notifier& nn, bool& c) -> rt::Task<void> {
      try {
        co_await nn.wait();
      } catch (const bocker::Error& e) {
        c = e.kind() == bocker::Error::Kind::kCancelled;
      }
    }(n, cancelled));
    co_await rt::nop();
    waiters.cancel();
    co_await waiters.join();
    EXPECT_TRUE(cancelled);
    EXPECT_EQ(n.waiting(), 0U);
  };
  loop.run(body());
}

}  // namespace
