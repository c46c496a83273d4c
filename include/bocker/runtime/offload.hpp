// A bounded worker pool for blocking or CPU-heavy calls. `co_await offload(fn)` runs fn on a
// worker thread and resumes the coroutine on the loop thread with fn's value or exception.
// With GCC 12, capture only references or trivially destructible values in `fn` when it is
// written inside `co_await offload(...)`: GCC 12 frees non-trivial temporaries of a co_await
// expression wrongly (seen as a double free). Name the locals and capture them by reference.
#pragma once

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "bocker/runtime/loop.hpp"

namespace bocker::rt {

struct Job {
  virtual void run() noexcept = 0;
  virtual ~Job() = default;
};

class WorkerPool {
 public:
  WorkerPool(Loop& loop, unsigned threads);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  void submit(Job* job);
  Loop& loop() noexcept { return loop_; }
  // Jobs waiting for a thread (for metrics).
  std::size_t queue_depth() const;
  std::size_t threads() const noexcept { return threads_.size(); }
  std::size_t busy() const;

 private:
  void worker() noexcept;

  Loop& loop_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

namespace detail {
template <class F>
class OffloadAwaitable final : public Job {
 public:
  using R = std::invoke_result_t<F&>;
  explicit OffloadAwaitable(F fn) : fn_(std::move(fn)) {}
  OffloadAwaitable(OffloadAwaitable&& o) noexcept(std::is_nothrow_move_constructible_v<F>) : fn_(std::move(o.fn_)) {}

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    pool_ = &Loop::current().pool();
    pool_->submit(this);
  }
  R await_resume() {
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<R>) return std::move(*value_);
  }

  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<R>) {
        fn_();
      } else {
        value_.emplace(fn_());
      }
    } catch (...) {
      error_ = std::current_exception();
    }
    pool_->loop().post_from_thread(&OffloadAwaitable::resume, this);
  }

 private:
  static void resume(void* self) { static_cast<OffloadAwaitable*>(self)->waiter_.resume(); }
  struct Empty {};
  F fn_;
  std::conditional_t<std::is_void_v<R>, Empty, std::optional<std::conditional_t<std::is_void_v<R>, int, R>>> value_;
  std::exception_ptr error_;
  std::coroutine_handle<> waiter_;
  WorkerPool* pool_ = nullptr;
};
}  // namespace detail

template <class F>
detail::OffloadAwaitable<std::decay_t<F>> offload(F&& fn) {
  return detail::OffloadAwaitable<std::decay_t<F>>(std::forward<F>(fn));
}

}  // namespace bocker::rt
