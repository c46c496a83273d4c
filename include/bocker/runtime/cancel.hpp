// Cancellation scopes: cancelling a scope cancels every I/O operation suspended in it and
// in its child scopes (io_uring ASYNC_CANCEL), and makes new operations in it fail at once
// with -ECANCELED.
#pragma once

#include <cassert>

namespace bocker::rt {

struct Op;

class CancelScope {
 public:
  explicit CancelScope(CancelScope* parent = nullptr) noexcept;
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  ~CancelScope();

  // Idempotent. Cancels registered operations and child scopes.
  void cancel() noexcept;
  bool cancelled() const noexcept { return cancelled_; }
  CancelScope* parent() const noexcept { return parent_; }

  // Used by Op: an op in flight is linked into the scope it was submitted under.
  void link(Op* op) noexcept;
  void unlink(Op* op) noexcept;

 private:
  CancelScope* parent_;
  CancelScope* first_child_ = nullptr;
  CancelScope* next_sibling_ = nullptr;
  CancelScope* prev_sibling_ = nullptr;
  Op* ops_ = nullptr;
  bool cancelled_ = false;
};

}  // namespace bocker::rt
