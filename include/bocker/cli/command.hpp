// The command table and dispatcher behind `bocker`: each verb is a Command with its flags and a
// handler; `run()` parses global flags, finds the verb (or sub-verb), parses its flags, checks
// its argument count and calls it. Usage errors exit 125 with a hint, like docker.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "bocker/cli/client.hpp"
#include "bocker/cli/env.hpp"
#include "bocker/cli/flags.hpp"
#include "bocker/cli/host.hpp"

namespace bocker::cli {

inline constexpr int kExitUsage = 125;

class Context;
// Returns the process exit code. May throw UsageError (exit 125), DaemonError
// ("Error response from daemon: ...", exit 1) or any bocker::Error (exit 1).
using Handler = std::function<int(Context&)>;

struct Command {
  std::string name;
  std::vector<std::string> aliases;
  std::string summary;      // one line, for command lists
  std::string usage;        // what follows "bocker <name> ", e.g. "[OPTIONS] CONTAINER [CONTAINER...]"
  std::string description;  // longer text for --help; the summary when empty
  std::vector<FlagSpec> flags;
  int min_args = 0;
  int max_args = -1;                 // -1: no limit
  bool interspersed = true;          // false: flags end at the first positional (run, exec)
  std::vector<Command> subcommands;  // a group like `container`: its verbs
  Handler handler;                   // empty for a group: prints its help
  bool hidden = false;
};

// What a handler gets: its flags and arguments, the output streams, the environment and a
// lazily connected client.
class Context {
 public:
  Context(std::ostream& out, std::ostream& err, const Env& env, std::string host_flag, int in_fd = 0)
      : out(out), err(err), env(env), in_fd(in_fd), host_flag_(std::move(host_flag)) {}

  std::ostream& out;
  std::ostream& err;
  const Env& env;
  int in_fd;  // standard input (run -i, exec -i, start -i)
  ParsedFlags flags;
  std::vector<std::string> args;
  std::string command_path;  // "bocker version"

  // The daemon address from -H, $BOCKER_HOST or the default. Throws on a malformed value.
  const Host& host();
  // A client that has answered /_ping, starting bockerd when allowed (see autostart.hpp).
  Client& client();

 private:
  std::string host_flag_;
  std::optional<Host> host_;
  std::unique_ptr<Client> client_;
};

// The top-level command table, in the order `bocker --help` lists it.
const std::vector<Command>& commands();

// The flags `bocker` itself takes before the command (-H, -v, -h, ...).
const std::vector<FlagSpec>& global_flags();

// Help texts, as printed by --help.
std::string main_help();
std::string command_help(const Command& cmd, const std::string& path);

// Runs the CLI on `argv` (without the program name). Returns the exit code.
// `in_fd` is the standard input that run/exec/start -i forward to a container.
int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err, const Env& env,
        int in_fd = 0);

}  // namespace bocker::cli
