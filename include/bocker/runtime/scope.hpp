// Structured concurrency: TaskScope owns detached tasks, when_all runs tasks concurrently,
// with_timeout bounds any task or awaitable.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::rt {

namespace detail {
// An eager, self-destroying coroutine used to drive tasks concurrently. It must not throw.
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

// Suspends until `*remaining` drops to zero; whoever drops it resumes `*waiter`.
struct WaitCount {
  std::size_t* remaining;
  std::coroutine_handle<>* waiter;
  bool await_ready() const noexcept { return *remaining == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { *waiter = h; }
  void await_resume() const noexcept {}
};
}  // namespace detail

// What happens to an exception that escapes a spawned task (default: print to stderr).
void set_unhandled_task_error(std::function<void(std::exception_ptr)> fn);
void report_unhandled_task_error(std::exception_ptr e) noexcept;

// Owns detached tasks. Spawned tasks start on the next loop iteration, run under this
// scope's cancellation scope, and must all finish (join) before the scope is destroyed.
class TaskScope {
 public:
  explicit TaskScope(CancelScope* parent = nullptr) noexcept : cancel_(parent) {}
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope();

  void spawn(Task<void> task);
  // Completes when no spawned task is left.
  detail::WaitCount join() noexcept { return {&count_, &joiner_}; }
  // Cancels every spawned task's I/O; they still run to completion.
  void cancel() noexcept { cancel_.cancel(); }
  // Cancel then join.
  Task<void> close();
  std::size_t size() const noexcept { return count_; }
  CancelScope& cancel_scope() noexcept { return cancel_; }
  // Internal: a spawned task has finished.
  void finished() noexcept;

 private:

  CancelScope cancel_;
  std::size_t count_ = 0;
  std::coroutine_handle<> joiner_;
};

// Runs every task concurrently and returns their values in order. The first exception
// cancels the others and is rethrown once all have finished.
template <class T>
Task<std::vector<T>> when_all(std::vector<Task<T>> tasks) {
  CancelScope* parent = co_await this_scope();
  CancelScope group(parent);
  std::size_t remaining = tasks.size();
  std::coroutine_handle<> waiter;
  std::exception_ptr first_error;
  std::vector<std::optional<T>> values(tasks.size());
  auto run = [](Task<T>& t, CancelScope& g, std::optional<T>& out, std::exception_ptr& err,
                std::size_t& left, std::coroutine_handle<>& w) -> detail::Detached {
    try {
      out.emplace(co_await t.in(g));
    } catch (...) {
      if (!err) {
        err = std::current_exception();
        g.cancel();
      }
    }
    if (--left == 0 && w) Loop::current().post(w);
  };
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    run(tasks[i], group, values[i], first_error, remaining, waiter);
  }
  co_await detail::WaitCount{&remaining, &waiter};
  if (first_error) std::rethrow_exception(first_error);
  std::vector<T> out;
  out.reserve(values.size());
  for (auto& v : values) out.push_back(std::move(*v));
  co_return out;
}

Task<void> when_all(std::vector<Task<void>> tasks);

namespace detail {
// A timer that cancels a scope when it fires. disarm() cancels the timer and waits for its
// completion, so the timer's Op never outlives the frame holding it.
class Deadline {
 public:
  Deadline(CancelScope& target, std::chrono::nanoseconds d);
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline();

  struct Disarm {
    Deadline* d;
    bool await_ready() const noexcept { return !d->pending_; }
    void await_suspend(std::coroutine_handle<> h) noexcept;
    void await_resume() const noexcept {}
  };
  Disarm disarm() noexcept { return {this}; }
  bool fired() const noexcept { return fired_; }

 private:
  static void on_timer(Op* op) noexcept;
  struct TimerOp : Op {
    Deadline* owner = nullptr;
  };

  TimerOp op_;
  __kernel_timespec ts_{};
  CancelScope* target_;
  std::coroutine_handle<> disarm_waiter_;
  bool pending_ = true;
  bool fired_ = false;
};

[[noreturn]] void throw_timeout(std::chrono::nanoseconds d);
}  // namespace detail

// Runs `task`; if it has not finished after `d`, cancels its I/O and throws
// bocker::Error(kTimeout) once it has unwound.
template <class T>
Task<T> with_timeout(Task<T> task, std::chrono::nanoseconds d) {
  CancelScope* parent = co_await this_scope();
  CancelScope inner(parent);
  detail::Deadline deadline(inner, d);
  std::exception_ptr err;
  if constexpr (std::is_void_v<T>) {
    try {
      co_await task.in(inner);
    } catch (...) {
      err = std::current_exception();
    }
    co_await deadline.disarm();
    if (deadline.fired()) detail::throw_timeout(d);
    if (err) std::rethrow_exception(err);
  } else {
    std::optional<T> value;
    try {
      value.emplace(co_await task.in(inner));
    } catch (...) {
      err = std::current_exception();
    }
    co_await deadline.disarm();
    if (deadline.fired()) detail::throw_timeout(d);
    if (err) std::rethrow_exception(err);
    co_return std::move(*value);
  }
}

// Bounds a single awaitable (an I/O op): with_timeout(rt::read(fd, buf, n), 1s).
template <class A>
  requires requires(A a) { a.await_ready(); }
auto with_timeout(A awaitable, std::chrono::nanoseconds d) {
  using R = decltype(awaitable.await_resume());
  auto wrap = [](A a) -> Task<R> { co_return co_await a; };
  return with_timeout(wrap(std::move(awaitable)), d);
}

}  // namespace bocker::rt
