// The event loop: one io_uring, one thread. Every in-flight operation is an Op whose
// address is the SQE's user_data; the Op lives until its CQE arrives (a cancelled op
// still waits for its own CQE, so the kernel never writes into freed memory).
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "bocker/runtime/cancel.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::rt {

class WorkerPool;

struct Op {
  Op() noexcept = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  int res = 0;
  std::uint32_t cqe_flags = 0;
  // Called on the loop thread when the CQE arrives. The default resumes `waiter`.
  void (*on_complete)(Op*) noexcept = &Op::resume_waiter;
  std::coroutine_handle<> waiter;
  // Cancellation-scope membership while in flight.
  CancelScope* scope = nullptr;
  Op* prev = nullptr;
  Op* next = nullptr;
  bool cancel_sent = false;
  // For waits that are not io_uring operations (events, notifiers): called instead of an
  // ASYNC_CANCEL when the op's scope is cancelled. It must resume the waiter (through the
  // loop's ready queue); the scope has already unlinked the op.
  void (*on_cancel)(Op*) noexcept = nullptr;

  static void resume_waiter(Op* op) noexcept { op->waiter.resume(); }
};

// Event-loop lag histogram buckets (seconds): how long one iteration spent running ready work.
inline constexpr std::array<double, 12> kLagBuckets = {1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3,
                                                       1e-2, 5e-2, 0.1,  0.5,  1.0,  5.0};

struct LoopStats {
  std::uint64_t iterations = 0;
  std::uint64_t submissions = 0;
  std::uint64_t completions = 0;
  std::array<std::uint64_t, kLagBuckets.size() + 1> lag_buckets{};  // last one is +Inf
  double lag_sum = 0;
  std::uint64_t lag_count = 0;
};

struct LoopOptions {
  unsigned entries = 1024;
  unsigned workers = 2;  // worker pool threads for offload()
};

class Loop {
 public:
  explicit Loop(LoopOptions opts = {});
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  ~Loop();

  // The loop of the calling thread (asserts there is one).
  static Loop& current() noexcept;
  static Loop* current_or_null() noexcept;

  // Runs the loop until `task` finishes; returns its value or rethrows its exception.
  template <class T>
  T run(Task<T> task) {
    auto h = task.handle();
    post(h);
    while (!h.done()) run_once();
    return h.promise().take();
  }

  // One iteration: submit pending SQEs, wait for at least one completion unless work is
  // ready, dispatch completions and ready coroutines.
  void run_once();

  // Resume `h` on the loop in this or the next iteration.
  void post(std::coroutine_handle<> h);

  // An SQE for `op`, bound to it; submits the queue when it is full. `op` must stay put until
  // its completion.
  io_uring_sqe* sqe_for(Op* op);
  // Makes sure `n` SQEs can be had without a submit in between (for linked chains).
  void reserve_sqes(unsigned n);
  // Submit ASYNC_CANCEL for an op in flight (its CQE will still arrive).
  void cancel(Op* op) noexcept;

  // Called from worker threads: schedule `fn(arg)` on the loop thread.
  void post_from_thread(void (*fn)(void*), void* arg);

  bool has_waitid() const noexcept { return has_waitid_; }
  // Tests force the pidfd POLL fallback with this.
  void set_waitid(bool on) noexcept { has_waitid_ = on && waitid_probe_; }
  bool opcode_supported(int op) const noexcept;

  WorkerPool& pool() noexcept { return *pool_; }
  const LoopStats& stats() const noexcept { return stats_; }
  std::size_t pending_sqes() const noexcept;

 private:
  void arm_wakeup();
  static void on_wakeup(Op* op) noexcept;
  void drain_remote();
  void record_lag(double seconds) noexcept;

  io_uring ring_{};
  bool ring_ok_ = false;
  std::deque<std::coroutine_handle<>> ready_;
  LoopStats stats_;
  bool has_waitid_ = false;
  bool waitid_probe_ = false;
  std::vector<std::uint8_t> supported_ops_;

  // Cross-thread wakeups (worker pool completions).
  Fd wake_fd_;
  Op wake_op_;
  std::uint64_t wake_buf_ = 0;
  std::mutex remote_mu_;
  std::vector<std::pair<void (*)(void*), void*>> remote_;
  std::vector<std::pair<void (*)(void*), void*>> remote_swap_;

  WorkerPool* pool_ = nullptr;
};

}  // namespace bocker::rt
