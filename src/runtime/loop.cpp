#include "bocker/runtime/loop.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/offload.hpp"

namespace bocker::rt {

namespace {
thread_local Loop* t_current = nullptr;
thread_local std::int64_t t_tasks_alive = 0;
constexpr int kOpWaitid = 50;  // IORING_OP_WAITID (Linux 6.7); liburing 2.3's headers lack it
}  // namespace

std::int64_t tasks_alive() noexcept { return t_tasks_alive; }
void count_task(int delta) noexcept { t_tasks_alive += delta; }

Loop::Loop(LoopOptions opts) {
  if (t_current != nullptr) throw Error("a Loop already runs on this thread");
  io_uring_params params{};
  params.flags = IORING_SETUP_CLAMP;
  int rc = io_uring_queue_init_params(opts.entries, &ring_, &params);
  if (rc < 0) throw SystemError(-rc, "io_uring_queue_init", "");
  ring_ok_ = true;

  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
    supported_ops_.assign(static_cast<std::size_t>(probe->last_op) + 1, 0);
    for (int op = 0; op <= probe->last_op; ++op) {
      supported_ops_[static_cast<std::size_t>(op)] = io_uring_opcode_supported(probe, op) ? 1 : 0;
    }
    io_uring_free_probe(probe);
  }
  waitid_probe_ = opcode_supported(kOpWaitid);
  has_waitid_ = waitid_probe_;

  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!wake_fd_) {
    int err = errno;
    io_uring_queue_exit(&ring_);
    throw SystemError(err, "eventfd", "loop wakeup");
  }
  t_current = this;
  wake_op_.on_complete = &Loop::on_wakeup;
  arm_wakeup();
  pool_ = new WorkerPool(*this, opts.workers == 0 ? 1 : opts.workers);
}

Loop::~Loop() {
  delete pool_;
  pool_ = nullptr;
  // Cancel the wakeup read and drain until its CQE is back, so no op is left in the kernel.
  cancel(&wake_op_);
  io_uring_submit(&ring_);
  for (int i = 0; i < 100 && wake_op_.waiter == nullptr; ++i) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{0, 10'000'000};
    if (io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) != 0) break;
    bool mine = io_uring_cqe_get_data(cqe) == &wake_op_;
    io_uring_cqe_seen(&ring_, cqe);
    if (mine) break;
  }
  io_uring_queue_exit(&ring_);
  if (t_current == this) t_current = nullptr;
}

Loop& Loop::current() noexcept {
  if (t_current == nullptr) {
    std::fputs("bocker runtime: no Loop on this thread\n", stderr);
    std::abort();
  }
  return *t_current;
}

Loop* Loop::current_or_null() noexcept { return t_current; }

bool Loop::opcode_supported(int op) const noexcept {
  return op >= 0 && static_cast<std::size_t>(op) < supported_ops_.size() &&
         supported_ops_[static_cast<std::size_t>(op)] != 0;
}

std::size_t Loop::pending_sqes() const noexcept { return io_uring_sq_ready(&ring_); }

io_uring_sqe* Loop::sqe_for(Op* op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    int rc = io_uring_submit(&ring_);
    if (rc < 0 && rc != -EBUSY && rc != -EAGAIN) throw SystemError(-rc, "io_uring_submit", "");
    if (rc > 0) stats_.submissions += static_cast<std::uint64_t>(rc);
    sqe = io_uring_get_sqe(&ring_);
  }
  if (op != nullptr) op->cancel_sent = false;
  io_uring_sqe_set_data(sqe, op);
  return sqe;
}

void Loop::reserve_sqes(unsigned n) {
  if (io_uring_sq_space_left(&ring_) >= n) return;
  int rc = io_uring_submit(&ring_);
  if (rc < 0 && rc != -EBUSY && rc != -EAGAIN) throw SystemError(-rc, "io_uring_submit", "");
  if (rc > 0) stats_.submissions += static_cast<std::uint64_t>(rc);
}

void Loop::cancel(Op* op) noexcept {
  if (op->cancel_sent) return;
  op->cancel_sent = true;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    int rc = io_uring_submit(&ring_);
    if (rc > 0) stats_.submissions += static_cast<std::uint64_t>(rc);
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data(sqe, nullptr);  // the cancel's own CQE is ignored
}

void Loop::post(std::coroutine_handle<> h) { ready_.push_back(h); }

void Loop::post_from_thread(void (*fn)(void*), void* arg) {
  bool first = false;
  {
    std::lock_guard lock(remote_mu_);
    first = remote_.empty();
    remote_.emplace_back(fn, arg);
  }
  if (first) {
    std::uint64_t one = 1;
    // A blocking eventfd: io_uring would fail reads of a non-blocking one with EAGAIN.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  }
}

void Loop::arm_wakeup() {
  io_uring_sqe* sqe = sqe_for(&wake_op_);
  io_uring_prep_read(sqe, wake_fd_.get(), &wake_buf_, sizeof wake_buf_, 0);
  io_uring_sqe_set_data(sqe, &wake_op_);
}

void Loop::on_wakeup(Op* op) noexcept {
  Loop& loop = Loop::current();
  if (op->res == -ECANCELED) {
    op->waiter = std::noop_coroutine();  // marks "done" for the destructor
    return;
  }
  loop.drain_remote();
  try {
    loop.arm_wakeup();
  } catch (...) {
    std::fputs("bocker runtime: cannot re-arm the loop wakeup\n", stderr);
    std::abort();
  }
}

void Loop::drain_remote() {
  {
    std::lock_guard lock(remote_mu_);
    remote_swap_.swap(remote_);
  }
  for (auto& [fn, arg] : remote_swap_) fn(arg);
  remote_swap_.clear();
}

void Loop::record_lag(double seconds) noexcept {
  std::size_t i = 0;
  while (i < kLagBuckets.size() && seconds > kLagBuckets[i]) ++i;
  ++stats_.lag_buckets[i];
  stats_.lag_sum += seconds;
  ++stats_.lag_count;
}

void Loop::run_once() {
  ++stats_.iterations;
  int rc;
  if (ready_.empty()) {
    rc = io_uring_submit_and_wait(&ring_, 1);
  } else {
    rc = io_uring_submit(&ring_);
  }
  if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN && rc != -ETIME) {
    throw SystemError(-rc, "io_uring_submit_and_wait", "");
  }
  if (rc > 0) stats_.submissions += static_cast<std::uint64_t>(rc);
  auto start = std::chrono::steady_clock::now();

  // Copy completions out first so handlers may submit freely.
  struct Done {
    Op* op;
    int res;
    std::uint32_t flags;
  };
  std::array<Done, 256> batch;
  std::size_t n = 0;
  io_uring_cqe* cqe = nullptr;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    auto* op = static_cast<Op*>(io_uring_cqe_get_data(cqe));
    if (op != nullptr) batch[n++] = Done{op, cqe->res, cqe->flags};
    if (n == batch.size()) break;
  }
  io_uring_cq_advance(&ring_, seen);
  stats_.completions += seen;

  for (std::size_t i = 0; i < n; ++i) {
    Op* op = batch[i].op;
    op->res = batch[i].res;
    op->cqe_flags = batch[i].flags;
    if (op->scope != nullptr) op->scope->unlink(op);
    op->on_complete(op);
  }
  // Run coroutines that were posted, including those posted while running these.
  std::size_t budget = ready_.size();
  while (budget-- > 0 && !ready_.empty()) {
    auto h = ready_.front();
    ready_.pop_front();
    h.resume();
  }
  if (seen > 0 || n > 0) {
    record_lag(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

}  // namespace bocker::rt
