// A one-waiter event for coroutines on the loop: set() wakes the waiting coroutine (on the next
// loop iteration); wait() returns at once when the event is already set, and clears it.
#pragma once

#include <coroutine>
#include <utility>
#include <vector>

#include "bocker/runtime/error.hpp"
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
// A wait is cancellable: when the waiter's scope is cancelled, wait() throws Error(kCancelled).
class Notifier {
 public:
  Notifier() noexcept = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier() { notify_all(); }

  struct Awaiter {
    Notifier* n;
    struct WaitOp : Op {
      Notifier* owner = nullptr;
      bool cancelled = false;
    } op;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      CancelScope* scope = detail::scope_of(h);
      if (scope != nullptr && scope->cancelled()) {
        op.cancelled = true;
        return false;
      }
      op.waiter = h;
      op.owner = n;
      op.on_cancel = &Awaiter::cancel;
      n->waiters_.push_back(&op);
      if (scope != nullptr) scope->link(&op);
      return true;
    }
    void await_resume() const {
      if (op.cancelled) throw Error(Error::Kind::kCancelled, "wait cancelled");
    }
    static void cancel(Op* o) noexcept {
      auto* w = static_cast<WaitOp*>(o);
      w->cancelled = true;
      if (w->owner != nullptr) std::erase(w->owner->waiters_, static_cast<Op*>(w));
      Loop::current().post(w->waiter);
    }
  };
  Awaiter wait() noexcept { return Awaiter{this, {}}; }
  void notify_all() {
    auto ws = std::move(waiters_);
    waiters_.clear();
    for (Op* op : ws) {
      if (op->scope != nullptr) op->scope->unlink(op);
      static_cast<Awaiter::WaitOp*>(op)->owner = nullptr;
      Loop::current().post(op->waiter);
    }
  }
  std::size_t waiting() const noexcept { return waiters_.size(); }

 private:
  std::vector<Op*> waiters_;
};

}  // namespace bocker::rt
