#include "bocker/runtime/process.hpp"

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/loop.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace bocker::rt {

namespace {
constexpr int kOpWaitid = 50;  // IORING_OP_WAITID

struct WaitidOp : IoAwaitable<WaitidOp> {
  WaitidOp(int pidfd, siginfo_t* info) noexcept : pidfd(pidfd), info(info) {}
  int pidfd;
  siginfo_t* info;
  void prep(io_uring_sqe* s) noexcept {
    io_uring_prep_rw(kOpWaitid, s, pidfd, nullptr, P_PIDFD, 0);
    s->rw_flags = 0;          // waitid_flags
    s->file_index = WEXITED;  // options
    s->addr2 = reinterpret_cast<std::uint64_t>(info);
  }
};

ExitStatus from_siginfo(const siginfo_t& info) {
  ExitStatus st;
  switch (info.si_code) {
    case CLD_EXITED:
      st.code = info.si_status;
      break;
    case CLD_KILLED:
    case CLD_DUMPED:
      st.signal = info.si_status;
      st.code = 128 + info.si_status;
      st.core_dumped = info.si_code == CLD_DUMPED;
      break;
    default:
      st.code = info.si_status;
      break;
  }
  return st;
}

[[noreturn]] void throw_cancelled(const char* what) { throw Error(Error::Kind::kCancelled, what); }
}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) {
    std::string s = "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
    if (core_dumped) s += ", core dumped";
    return s;
  }
  return "exited with code " + std::to_string(code);
}

Task<ExitStatus> wait_exit(int pidfd) {
  siginfo_t info{};
  if (Loop::current().has_waitid()) {
    int res = co_await WaitidOp(pidfd, &info);
    if (res == -ECANCELED) throw_cancelled("wait for process exit cancelled");
    check_res(res, "waitid(P_PIDFD)", "pidfd " + std::to_string(pidfd));
    co_return from_siginfo(info);
  }
  for (;;) {
    int res = co_await rt::poll(pidfd, POLLIN);
    if (res == -ECANCELED) throw_cancelled("wait for process exit cancelled");
    if (res == -EINTR) continue;
    check_res(res, "poll", "pidfd " + std::to_string(pidfd));
    info = siginfo_t{};
    int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
    if (rc < 0) throw SystemError(errno, "waitid(P_PIDFD)", "pidfd " + std::to_string(pidfd));
    if (info.si_pid != 0) co_return from_siginfo(info);
  }
}

Task<bool> wait_pidfd(int pidfd) {
  for (;;) {
    int res = co_await rt::poll(pidfd, POLLIN);
    if (res == -ECANCELED) co_return false;
    if (res == -EINTR) continue;
    check_res(res, "poll", "pidfd " + std::to_string(pidfd));
    co_return true;
  }
}

Fd pidfd_open(pid_t pid) {
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw SystemError(errno, "pidfd_open", "pid " + std::to_string(pid));
  return Fd(static_cast<int>(fd));
}

int pidfd_kill(int pidfd, int sig) noexcept {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0) return -errno;
  return 0;
}

SignalSet::SignalSet(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int s : signals) sigaddset(&set_, s);
  if (pthread_sigmask(SIG_BLOCK, &set_, &old_) != 0) throw SystemError(errno, "pthread_sigmask", "");
  int fd = ::signalfd(-1, &set_, SFD_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    throw SystemError(err, "signalfd", "");
  }
  fd_.reset(fd);
}

SignalSet::~SignalSet() {
  fd_.reset();
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

Task<int> SignalSet::next() {
  signalfd_siginfo si{};
  for (;;) {
    int n = co_await rt::read(fd_.get(), &si, sizeof si);
    if (n == -ECANCELED) co_return 0;
    if (n == -EAGAIN || n == -EINTR) continue;
    check_res(n, "read", "signalfd");
    if (n == sizeof si) co_return static_cast<int>(si.ssi_signo);
  }
}

}  // namespace bocker::rt
