// Connecting to the daemon, starting bockerd in the background when nothing answers.
//
// When a request to a unix-socket host fails with ENOENT or ECONNREFUSED and
// BOCKER_NO_AUTOSTART is not "1", the CLI starts the daemon itself:
//   binary:  $BOCKER_DAEMON_PATH, else `bockerd` next to the running `bocker` (/proc/self/exe),
//            else ../daemon/bockerd from there (the build tree), else `bockerd` on $PATH;
//   argv:    bockerd --host unix:///the/socket [--root $BOCKER_ROOT]
//   process: its own session (setsid), stdin/stdout on /dev/null, stderr appended to the log:
//            $BOCKER_DAEMON_LOG, else /var/log/bocker/bockerd.log when that can be created,
//            else /tmp/bockerd-<uid>.log;
// then polls /_ping for up to $BOCKER_AUTOSTART_TIMEOUT seconds (default 10).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <ostream>
#include <string>

#include "bocker/cli/client.hpp"
#include "bocker/cli/env.hpp"
#include "bocker/cli/host.hpp"

namespace bocker::cli {

// "Cannot connect to the bocker daemon at <uri>. Is bockerd running?"
std::string cannot_connect_message(const Host& host);

// True when BOCKER_NO_AUTOSTART is not "1" and `host` is a unix socket.
bool autostart_enabled(const Host& host, const Env& env);

// The bockerd binary to start (see above). Throws bocker::Error(kNotFound) naming where it looked.
std::string find_daemon_binary(const Env& env);

// Opens (append, create 0640) the daemon log chosen as above; `path` receives its name.
Fd open_daemon_log(const Env& env, std::string& path);

// Starts `binary` detached for `host` with stderr on `log_fd`. Returns its pid once exec
// succeeded; throws SystemError("exec", binary) when it did not.
pid_t spawn_daemon(const std::string& binary, const Host& host, const Env& env, int log_fd);

// A client connected to `host` (a daemon it started has answered /_ping). Starts the daemon
// when allowed, printing one line about it to `err`. Throws ConnectError with
// cannot_connect_message() when nothing answers, or Error when the started daemon fails.
Client connect_daemon(const Host& host, const Env& env, std::ostream& err);

}  // namespace bocker::cli
