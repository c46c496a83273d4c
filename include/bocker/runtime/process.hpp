// Process exit and signals on the loop.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <initializer_list>
#include <string>

#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::rt {

struct ExitStatus {
  int code = 0;      // exit code, or 128+signal when killed (shell convention)
  int signal = 0;    // terminating signal, 0 when it exited
  bool core_dumped = false;
  std::string describe() const;
};

// Waits for the child behind `pidfd` to exit and reaps it. Uses IORING_OP_WAITID when the
// kernel has it (probed at loop start), else POLL on the pidfd then waitid(P_PIDFD, WNOHANG).
// Throws SystemError on failure (ECHILD when it is not our child), Error(kCancelled) when
// the awaiting scope is cancelled.
Task<ExitStatus> wait_exit(int pidfd);

// Waits until the process behind `pidfd` has exited without reaping it (for processes that
// are not our children). Returns false when cancelled.
Task<bool> wait_pidfd(int pidfd);

// pidfd_open(2) with an error naming the pid.
Fd pidfd_open(pid_t pid);
// pidfd_send_signal(2); returns -errno or 0.
int pidfd_kill(int pidfd, int sig) noexcept;

// Blocks the given signals for the process and reads them from a signalfd on the loop.
// Construct it before starting threads so every thread inherits the mask.
class SignalSet {
 public:
  SignalSet(std::initializer_list<int> signals);
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;
  ~SignalSet();
  // The next signal number; 0 when cancelled.
  Task<int> next();
  int fd() const noexcept { return fd_.get(); }

 private:
  sigset_t set_{};
  sigset_t old_{};
  Fd fd_;
};

}  // namespace bocker::rt
