#include "bocker/runtime/scope.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace bocker::rt {

namespace {
std::function<void(std::exception_ptr)>& error_handler() {
  static std::function<void(std::exception_ptr)> fn;
  return fn;
}

// A lazily started, self-destroying driver for one spawned task.
struct Spawned {
  struct promise_type {
    Spawned get_return_object() noexcept {
      return Spawned{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<promise_type> h;
};

Spawned drive(Task<void> task, TaskScope* scope) {
  try {
    co_await task.in(scope->cancel_scope());
  } catch (...) {
    report_unhandled_task_error(std::current_exception());
  }
  scope->finished();
}
}  // namespace

void set_unhandled_task_error(std::function<void(std::exception_ptr)> fn) { error_handler() = std::move(fn); }

void report_unhandled_task_error(std::exception_ptr e) noexcept {
  if (error_handler()) {
    try {
      error_handler()(e);
      return;
    } catch (...) {
    }
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bocker: task failed: %s\n", ex.what());
  } catch (...) {
    std::fputs("bocker: task failed with a non-standard exception\n", stderr);
  }
}

TaskScope::~TaskScope() {
  if (count_ != 0) {
    std::fprintf(stderr, "bocker runtime: TaskScope destroyed with %zu tasks still running\n", count_);
    std::abort();
  }
}

void TaskScope::spawn(Task<void> task) {
  ++count_;
  Spawned s = drive(std::move(task), this);
  Loop::current().post(s.h);
}

void TaskScope::finished() noexcept {
  if (--count_ == 0 && joiner_) {
    auto j = std::exchange(joiner_, {});
    Loop::current().post(j);
  }
}

Task<void> TaskScope::close() {
  cancel();
  co_await join();
}

Task<void> when_all(std::vector<Task<void>> tasks) {
  CancelScope* parent = co_await this_scope();
  CancelScope group(parent);
  std::size_t remaining = tasks.size();
  std::coroutine_handle<> waiter;
  std::exception_ptr first_error;
  auto run = [](Task<void>& t, CancelScope& g, std::exception_ptr& err, std::size_t& left,
                std::coroutine_handle<>& w) -> detail::Detached {
    try {
      co_await t.in(g);
    } catch (...) {
      if (!err) {
        err = std::current_exception();
        g.cancel();
      }
    }
    if (--left == 0 && w) Loop::current().post(w);
  };
  for (auto& t : tasks) run(t, group, first_error, remaining, waiter);
  co_await detail::WaitCount{&remaining, &waiter};
  if (first_error) std::rethrow_exception(first_error);
}

namespace detail {

Deadline::Deadline(CancelScope& target, std::chrono::nanoseconds d) : target_(&target) {
  auto ns = d.count() < 0 ? 0 : d.count();
  ts_.tv_sec = ns / 1'000'000'000;
  ts_.tv_nsec = ns % 1'000'000'000;
  op_.owner = this;
  op_.on_complete = &Deadline::on_timer;
  io_uring_sqe* sqe = Loop::current().sqe_for(&op_);
  io_uring_prep_timeout(sqe, &ts_, 0, 0);
  io_uring_sqe_set_data(sqe, &op_);
}

Deadline::~Deadline() {
  if (pending_) {
    std::fputs("bocker runtime: Deadline destroyed while its timer is pending\n", stderr);
    std::abort();
  }
}

void Deadline::on_timer(Op* op) noexcept {
  Deadline* self = static_cast<TimerOp*>(op)->owner;
  self->pending_ = false;
  if (op->res == -ETIME) {
    self->fired_ = true;
    self->target_->cancel();
  }
  if (self->disarm_waiter_) self->disarm_waiter_.resume();
}

void Deadline::Disarm::await_suspend(std::coroutine_handle<> h) noexcept {
  d->disarm_waiter_ = h;
  Loop::current().cancel(&d->op_);
}

void throw_timeout(std::chrono::nanoseconds d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  throw Error(Error::Kind::kTimeout, "timed out after " + std::to_string(ms) + " ms");
}

}  // namespace detail
}  // namespace bocker::rt
