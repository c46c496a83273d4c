// A one-waiter event for coroutines on the loop: set() wakes the waiting coroutine (on the next
// loop iteration); wait() returns at once when the event is already set, and clears it.
#pragma once

#include <coroutine>
#include <utility>
#include <vector>

#include "bocker/runtime/loop.hpp"

namespace bocker::rt {

class Event {
 public:
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void set() noexcept {
    set_ = true;
    if (waiter_) Loop::current().post(std::exchange(waiter_, {}));
  }
  bool is_set() const noexcept { return set_; }

  struct Awaiter {
    Event* e;
    bool await_ready() const noexcept { return e->set_; }
    void await_suspend(std::coroutine_handle<> h) noexcept { e->waiter_ = h; }
    void await_resume() const noexcept { e->set_ = false; }
  };
  // One waiter at a time.
  Awaiter wait() noexcept { return Awaiter{this}; }

 private:
  std::coroutine_handle<> waiter_;
  bool set_ = false;
};

}  // namespace bocker::rt

namespace bocker::rt {

// Any number of coroutines wait(); notify_all() resumes them all (on the next loop iteration).
class Notifier {
 public:
  Notifier() noexcept = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  struct Awaiter {
    Notifier* n;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { n->waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  Awaiter wait() noexcept { return Awaiter{this}; }
  void notify_all() {
    auto ws = std::move(waiters_);
    waiters_.clear();
    for (auto h : ws) Loop::current().post(h);
  }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  std::vector<std::coroutine_handle<>> waiters_;
};

}  // namespace bocker::rt
