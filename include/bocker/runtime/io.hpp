// I/O awaitables. Each fills its SQE in await_suspend (never at construction, so an
// awaitable that is never awaited submits nothing) and yields the CQE result: >= 0 on
// success, -errno on failure, -ECANCELED when its cancellation scope was cancelled.
// Short reads and writes are the caller's to handle (see read_exact/write_all).
// Use blocking fds: io_uring fails I/O on an O_NONBLOCK fd with -EAGAIN instead of waiting.
#pragma once

#include <linux/time_types.h>
#include <liburing.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::rt {

inline constexpr std::uint64_t kNoOffset = static_cast<std::uint64_t>(-1);

// CRTP base: Derived provides `void prep(io_uring_sqe*)`.
// `.timeout(d)` bounds one operation with a linked IORING_OP_LINK_TIMEOUT: when it expires
// the op is cancelled and yields -ETIMEDOUT (not -ECANCELED, which means its scope was cancelled).
template <class Derived>
struct IoAwaitable {
  IoAwaitable() noexcept = default;
  // Moving is allowed only before the awaitable is awaited; the moved-to op starts fresh.
  IoAwaitable(IoAwaitable&& o) noexcept : link_ts_(o.link_ts_), has_timeout_(o.has_timeout_) {}
  IoAwaitable& operator=(IoAwaitable&&) = delete;

  Op op;

  Derived&& timeout(std::chrono::nanoseconds d) && noexcept {
    auto ns = d.count() < 0 ? 0 : d.count();
    link_ts_.tv_sec = ns / 1'000'000'000;
    link_ts_.tv_nsec = ns % 1'000'000'000;
    has_timeout_ = true;
    return static_cast<Derived&&>(*this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    CancelScope* scope = detail::scope_of(h);
    if (scope != nullptr && scope->cancelled()) {
      op.res = -ECANCELED;
      return false;
    }
    op.waiter = h;
    Loop& loop = Loop::current();
    if (has_timeout_) loop.reserve_sqes(2);  // the op and its timeout go out in one batch
    io_uring_sqe* sqe = loop.sqe_for(&op);
    static_cast<Derived*>(this)->prep(sqe);
    io_uring_sqe_set_data(sqe, &op);
    if (has_timeout_) {
      sqe->flags |= IOSQE_IO_LINK;
      io_uring_sqe* t = loop.sqe_for(nullptr);
      io_uring_prep_link_timeout(t, &link_ts_, 0);
      io_uring_sqe_set_data(t, nullptr);
      cancel_scope_ = scope;
    }
    if (scope != nullptr) scope->link(&op);
    return true;
  }
  int await_resume() const noexcept { return result(); }

 protected:
  int result() const noexcept {
    if (has_timeout_ && op.res == -ECANCELED && !(cancel_scope_ != nullptr && cancel_scope_->cancelled())) {
      return -ETIMEDOUT;
    }
    return op.res;
  }

 private:
  __kernel_timespec link_ts_{};
  bool has_timeout_ = false;
  CancelScope* cancel_scope_ = nullptr;
};

struct ReadOp : IoAwaitable<ReadOp> {
  ReadOp(int fd, void* buf, unsigned len, std::uint64_t off) noexcept : fd(fd), buf(buf), len(len), off(off) {}
  int fd; void* buf; unsigned len; std::uint64_t off;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_read(s, fd, buf, len, off); }
};
struct WriteOp : IoAwaitable<WriteOp> {
  WriteOp(int fd, const void* buf, unsigned len, std::uint64_t off) noexcept : fd(fd), buf(buf), len(len), off(off) {}
  int fd; const void* buf; unsigned len; std::uint64_t off;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_write(s, fd, buf, len, off); }
};
struct ReadvOp : IoAwaitable<ReadvOp> {
  ReadvOp(int fd, const iovec* iov, unsigned n, std::uint64_t off) noexcept : fd(fd), iov(iov), n(n), off(off) {}
  int fd; const iovec* iov; unsigned n; std::uint64_t off;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_readv(s, fd, iov, n, off); }
};
struct WritevOp : IoAwaitable<WritevOp> {
  WritevOp(int fd, const iovec* iov, unsigned n, std::uint64_t off) noexcept : fd(fd), iov(iov), n(n), off(off) {}
  int fd; const iovec* iov; unsigned n; std::uint64_t off;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_writev(s, fd, iov, n, off); }
};
struct RecvOp : IoAwaitable<RecvOp> {
  RecvOp(int fd, void* buf, std::size_t len, int flags) noexcept : fd(fd), buf(buf), len(len), flags(flags) {}
  int fd; void* buf; std::size_t len; int flags;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_recv(s, fd, buf, len, flags); }
};
struct SendOp : IoAwaitable<SendOp> {
  SendOp(int fd, const void* buf, std::size_t len, int flags) noexcept : fd(fd), buf(buf), len(len), flags(flags) {}
  int fd; const void* buf; std::size_t len; int flags;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_send(s, fd, buf, len, flags); }
};
struct AcceptOp : IoAwaitable<AcceptOp> {
  AcceptOp(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept : fd(fd), addr(addr), len(len), flags(flags) {}
  int fd; sockaddr* addr; socklen_t* len; int flags;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_accept(s, fd, addr, len, flags); }
};
struct ConnectOp : IoAwaitable<ConnectOp> {
  ConnectOp(int fd, const sockaddr* addr, socklen_t len) noexcept : fd(fd), addr(addr), len(len) {}
  int fd; const sockaddr* addr; socklen_t len;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_connect(s, fd, addr, len); }
};
struct PollOp : IoAwaitable<PollOp> {
  PollOp(int fd, unsigned events) noexcept : fd(fd), events(events) {}
  int fd; unsigned events;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_poll_add(s, fd, events); }
};
struct SpliceOp : IoAwaitable<SpliceOp> {
  SpliceOp(int in, std::int64_t off_in, int out, std::int64_t off_out, unsigned n, unsigned flags) noexcept
      : in(in), off_in(off_in), out(out), off_out(off_out), n(n), flags(flags) {}
  int in; std::int64_t off_in; int out; std::int64_t off_out; unsigned n; unsigned flags;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_splice(s, in, off_in, out, off_out, n, flags); }
};
struct ShutdownOp : IoAwaitable<ShutdownOp> {
  ShutdownOp(int fd, int how) noexcept : fd(fd), how(how) {}
  int fd; int how;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_shutdown(s, fd, how); }
};
struct OpenatOp : IoAwaitable<OpenatOp> {
  OpenatOp(int dirfd, const char* path, int flags, mode_t mode) noexcept : dirfd(dirfd), path(path), flags(flags), mode(mode) {}
  int dirfd; const char* path; int flags; mode_t mode;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_openat(s, dirfd, path, flags, mode); }
};
struct CloseOp : IoAwaitable<CloseOp> {
  explicit CloseOp(int fd) noexcept : fd(fd) {}
  int fd;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_close(s, fd); }
};
struct StatxOp : IoAwaitable<StatxOp> {
  StatxOp(int dirfd, const char* path, int flags, unsigned mask, struct statx* out) noexcept
      : dirfd(dirfd), path(path), flags(flags), mask(mask), out(out) {}
  int dirfd; const char* path; int flags; unsigned mask; struct statx* out;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_statx(s, dirfd, path, flags, mask, out); }
};
struct FsyncOp : IoAwaitable<FsyncOp> {
  explicit FsyncOp(int fd) noexcept : fd(fd) {}
  int fd;
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_fsync(s, fd, 0); }
};
struct NopOp : IoAwaitable<NopOp> {
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_nop(s); }
};
// A relative timer. Yields true when it expired, false when cancelled.
struct SleepOp : IoAwaitable<SleepOp> {
  explicit SleepOp(std::chrono::nanoseconds d) noexcept {
    auto ns = d.count() < 0 ? 0 : d.count();
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
  }
  SleepOp(SleepOp&& o) noexcept : IoAwaitable(std::move(o)), ts(o.ts) {}
  __kernel_timespec ts{};
  void prep(io_uring_sqe* s) noexcept { io_uring_prep_timeout(s, &ts, 0, 0); }
  bool await_resume() const noexcept { return op.res == -ETIME; }
};

inline ReadOp read(int fd, void* buf, unsigned len, std::uint64_t off = kNoOffset) noexcept { return ReadOp(fd, buf, len, off); }
inline WriteOp write(int fd, const void* buf, unsigned len, std::uint64_t off = kNoOffset) noexcept { return WriteOp(fd, buf, len, off); }
inline ReadvOp readv(int fd, const iovec* iov, unsigned n, std::uint64_t off = kNoOffset) noexcept { return ReadvOp(fd, iov, n, off); }
inline WritevOp writev(int fd, const iovec* iov, unsigned n, std::uint64_t off = kNoOffset) noexcept { return WritevOp(fd, iov, n, off); }
inline RecvOp recv(int fd, void* buf, std::size_t len, int flags = 0) noexcept { return RecvOp(fd, buf, len, flags); }
inline SendOp send(int fd, const void* buf, std::size_t len, int flags = MSG_NOSIGNAL) noexcept { return SendOp(fd, buf, len, flags); }
inline AcceptOp accept(int fd, sockaddr* addr = nullptr, socklen_t* len = nullptr, int flags = SOCK_CLOEXEC) noexcept { return AcceptOp(fd, addr, len, flags); }
inline ConnectOp connect(int fd, const sockaddr* addr, socklen_t len) noexcept { return ConnectOp(fd, addr, len); }
inline PollOp poll(int fd, unsigned events) noexcept { return PollOp(fd, events); }
inline SpliceOp splice(int in, std::int64_t off_in, int out, std::int64_t off_out, unsigned n, unsigned flags = 0) noexcept { return SpliceOp(in, off_in, out, off_out, n, flags); }
inline ShutdownOp shutdown(int fd, int how) noexcept { return ShutdownOp(fd, how); }
inline OpenatOp openat(int dirfd, const char* path, int flags, mode_t mode = 0) noexcept { return OpenatOp(dirfd, path, flags, mode); }
inline CloseOp close(int fd) noexcept { return CloseOp(fd); }
inline StatxOp statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out) noexcept { return StatxOp(dirfd, path, flags, mask, out); }
inline FsyncOp fsync(int fd) noexcept { return FsyncOp(fd); }
inline NopOp nop() noexcept { return NopOp(); }
inline SleepOp sleep_for(std::chrono::nanoseconds d) noexcept { return SleepOp(d); }

// Reads until `buf` is full or EOF. Returns bytes read or -errno.
Task<long> read_exact(int fd, std::span<std::byte> buf);
// Writes all of `data` (send for sockets when `socket`, else write). Returns bytes or -errno.
Task<long> write_all(int fd, std::span<const std::byte> data, bool socket = false);
inline Task<long> write_all(int fd, std::string_view s, bool socket = false) {
  return write_all(fd, std::as_bytes(std::span(s.data(), s.size())), socket);
}
// Moves up to `n` bytes from `in` to `out` through `pipe` (a pipe pair) with splice.
// Returns bytes moved (0 at EOF) or -errno.
Task<long> splice_through(int in, int out, int pipe_r, int pipe_w, unsigned n);

}  // namespace bocker::rt
