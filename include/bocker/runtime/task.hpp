// Task<T>: a lazy, move-only coroutine. Awaiting it starts it (symmetric transfer) and
// resumes the awaiter when it finishes; its value or exception reaches the awaiter.
// A task inherits the cancellation scope of the coroutine that awaits it.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "bocker/runtime/cancel.hpp"

namespace bocker::rt {

// Number of Task coroutine frames alive on this thread (for metrics and leak tests).
std::int64_t tasks_alive() noexcept;
void count_task(int delta) noexcept;

template <class T = void>
class Task;

namespace detail {

// Anything a bocker coroutine promise exposes: its cancellation scope.
template <class P>
concept HasScope = requires(P& p) {
  { p.scope } -> std::convertible_to<CancelScope*>;
};

template <class P>
CancelScope* scope_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (HasScope<P>) {
    return h.promise().scope;
  } else {
    return nullptr;
  }
}

struct PromiseBase {
  std::coroutine_handle<> continuation;
  CancelScope* scope = nullptr;
  std::exception_ptr error;

  PromiseBase() noexcept { count_task(1); }
  ~PromiseBase() { count_task(-1); }

  std::suspend_always initial_suspend() const noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;
  using value_type = T;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return h_ && h_.done(); }

  struct Awaiter {
    Handle h;
    CancelScope* explicit_scope;
    bool await_ready() const noexcept { return !h || h.done(); }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      h.promise().continuation = awaiting;
      h.promise().scope = explicit_scope ? explicit_scope : detail::scope_of(awaiting);
      return h;
    }
    T await_resume() { return h.promise().take(); }
  };
  // Awaiting consumes nothing: the Task still owns the frame and destroys it.
  Awaiter operator co_await() & noexcept { return Awaiter{h_, nullptr}; }
  Awaiter operator co_await() && noexcept { return Awaiter{h_, nullptr}; }
  // Run under an explicit cancellation scope instead of the awaiter's.
  Awaiter in(CancelScope& scope) noexcept { return Awaiter{h_, &scope}; }

  // For the loop and detached runners.
  Handle handle() const noexcept { return h_; }
  Handle release() noexcept { return std::exchange(h_, {}); }

 private:
  Handle h_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

// `CancelScope* s = co_await this_scope();` — the scope the current coroutine runs under.
struct ThisScope {
  CancelScope* scope = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    scope = detail::scope_of(h);
    return false;
  }
  CancelScope* await_resume() const noexcept { return scope; }
};
inline ThisScope this_scope() noexcept { return {}; }

}  // namespace bocker::rt
