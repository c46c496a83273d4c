// Internal to the daemon: file descriptors that outlive the daemon.
//
// A -t container's terminal is a pty whose master the daemon reads. If the daemon held the only
// master fd, a daemon restart (SIGTERM, kill -9, crash) would close it: the container's terminal
// hangs up (SIGHUP to its session) and its output can no longer be captured. So the daemon hands a
// copy of each master to a keeper, a small process of its own: `bockerd --fd-keeper`, exec'd from
// the daemon's binary in a session of its own, listening on the unix socket <root>/fdkeeper.sock
// (a path in the daemon's own root, out of containers' reach; requests from other users are
// refused by SO_PEERCRED). A restarted daemon takes the copy back and reads the terminal on.
//
// The keeper
//  - is started by the first put() and exits once it holds nothing: no process, no wakeup, while
//    no -t container runs;
//  - lets go of a pty master whose slave side is closed everywhere (POLLHUP: the container and
//    every process of it are gone), so it never keeps a dead container's terminal;
//  - is the daemon's child, reaped by it (the pidfd put() returns); after a daemon exit whoever
//    adopts orphans reaps it.
// One request per connection: "put KEY" carrying the fd (SCM_RIGHTS) -> "ok"; "take KEY" -> "ok"
// carrying a copy of the fd (the keeper keeps its own), or "none".
#pragma once

#include <mutex>
#include <string>

#include "bocker/runtime/fd.hpp"

namespace bocker::daemon {

class FdKeeper {
 public:
  explicit FdKeeper(const std::string& daemon_root);

  // Blocking; any thread. Keeps a copy of `fd` under `key`, starting a keeper when none answers.
  // Returns the new keeper's pidfd when this call started one (the caller reaps it), else an
  // invalid Fd. Throws SystemError / Error saying what failed.
  Fd put(const std::string& key, int fd);
  // Blocking; any thread. A copy of what is kept under `key` (O_CLOEXEC), or an invalid Fd when
  // no keeper runs or it keeps nothing under that key. Never starts a keeper; never throws.
  Fd take(const std::string& key);

  const std::string& socket_path() const noexcept { return path_; }

 private:
  std::string path_;
  std::mutex mu_;     // one request at a time, so a put that starts a keeper is not raced
};

// The keeper process: `bockerd --fd-keeper`, its listening socket at fd 3. Returns the exit code.
int fd_keeper_main();

}  // namespace bocker::daemon
