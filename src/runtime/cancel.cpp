#include "bocker/runtime/cancel.hpp"

#include <cstdio>
#include <cstdlib>

#include "bocker/runtime/loop.hpp"

namespace bocker::rt {

CancelScope::CancelScope(CancelScope* parent) noexcept : parent_(parent) {
  if (parent_ != nullptr) {
    next_sibling_ = parent_->first_child_;
    if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = this;
    parent_->first_child_ = this;
    cancelled_ = parent_->cancelled_;
  }
}

CancelScope::~CancelScope() {
  if (ops_ != nullptr) {
    std::fputs("bocker runtime: CancelScope destroyed with operations in flight\n", stderr);
    std::abort();
  }
  // Children outliving their parent detach (they keep their own state).
  for (CancelScope* c = first_child_; c != nullptr;) {
    CancelScope* next = c->next_sibling_;
    c->parent_ = nullptr;
    c->prev_sibling_ = c->next_sibling_ = nullptr;
    c = next;
  }
  if (parent_ != nullptr) {
    if (prev_sibling_ != nullptr) {
      prev_sibling_->next_sibling_ = next_sibling_;
    } else {
      parent_->first_child_ = next_sibling_;
    }
    if (next_sibling_ != nullptr) next_sibling_->prev_sibling_ = prev_sibling_;
  }
}

void CancelScope::cancel() noexcept {
  if (cancelled_) return;
  cancelled_ = true;
  if (ops_ != nullptr) {
    Loop& loop = Loop::current();
    for (Op* op = ops_; op != nullptr;) {
      Op* next = op->next;
      if (op->on_cancel != nullptr) {
        unlink(op);
        op->on_cancel(op);
      } else {
        loop.cancel(op);
      }
      op = next;
    }
  }
  for (CancelScope* c = first_child_; c != nullptr; c = c->next_sibling_) c->cancel();
}

void CancelScope::link(Op* op) noexcept {
  op->scope = this;
  op->prev = nullptr;
  op->next = ops_;
  if (ops_ != nullptr) ops_->prev = op;
  ops_ = op;
}

void CancelScope::unlink(Op* op) noexcept {
  if (op->prev != nullptr) {
    op->prev->next = op->next;
  } else {
    ops_ = op->next;
  }
  if (op->next != nullptr) op->next->prev = op->prev;
  op->prev = op->next = nullptr;
  op->scope = nullptr;
}

}  // namespace bocker::rt
