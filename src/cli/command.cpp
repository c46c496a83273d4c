#include "bocker/cli/command.hpp"

#include <algorithm>
#include <sstream>

#include "bocker/build_info.hpp"
#include "bocker/cli/autostart.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

const FlagSpec kHelpFlag{.short_name = 'h', .long_name = "help", .help = "Print usage", .hidden = true};

std::string usage_line(const Command& cmd, const std::string& path) {
  return "Usage:  " + path + (cmd.usage.empty() ? "" : " " + cmd.usage) + "\n";
}

// Prints a usage error the way docker does and returns 125.
int usage_error(std::ostream& err, const std::string& msg, const std::string& usage,
                const std::string& path) {
  err << msg << "\n\n";
  if (!usage.empty()) err << usage << "\n";
  err << "Run '" << path << " --help' for more information\n";
  return kExitUsage;
}

const Command* find_command(const std::vector<Command>& table, const std::string& name) {
  for (const auto& c : table) {
    if (c.name == name || std::find(c.aliases.begin(), c.aliases.end(), name) != c.aliases.end()) return &c;
  }
  return nullptr;
}

std::string command_list(const std::vector<Command>& table) {
  size_t width = 10;
  for (const auto& c : table) width = std::max(width, c.name.size() + 2);
  std::string out;
  for (const auto& c : table) {
    if (c.hidden) continue;
    out += "  " + c.name + std::string(width - c.name.size(), ' ') + c.summary + "\n";
  }
  return out;
}

int call_handler(const Command& cmd, Context& ctx, const std::string& path) {
  try {
    return cmd.handler(ctx);
  } catch (const UsageError& e) {
    return usage_error(ctx.err, e.what(), usage_line(cmd, path), path);
  } catch (const DaemonError& e) {
    ctx.err << "Error response from daemon: " << e.what() << "\n";
  } catch (const ConnectError& e) {
    ctx.err << e.what() << "\n";
  } catch (const std::exception& e) {
    ctx.err << "bocker: " << e.what() << "\n";
  }
  return 1;
}

// Dispatches `argv` (starting after the command name) to `cmd` or one of its subcommands.
int dispatch(const Command& cmd, std::span<const std::string> argv, const std::string& path, Context& ctx) {
  if (!cmd.subcommands.empty() && !argv.empty() && argv[0].front() != '-') {
    if (const Command* sub = find_command(cmd.subcommands, argv[0])) {
      return dispatch(*sub, argv.subspan(1), path + " " + sub->name, ctx);
    }
    if (!cmd.handler) {
      return usage_error(ctx.err, "bocker: unknown command: " + path + " " + argv[0], usage_line(cmd, path),
                         path);
    }
  }
  std::vector<FlagSpec> specs = cmd.flags;
  specs.push_back(kHelpFlag);
  ParsedArgs parsed;
  try {
    parsed = parse_flags(specs, argv, cmd.interspersed);
  } catch (const UsageError& e) {
    return usage_error(ctx.err, e.what(), usage_line(cmd, path), path);
  }
  if (parsed.flags.get_bool("help") || !cmd.handler) {
    ctx.out << command_help(cmd, path);
    return 0;
  }
  int n = static_cast<int>(parsed.args.size());
  if (n < cmd.min_args) {
    std::string what = cmd.min_args == 1 ? "1 argument" : std::to_string(cmd.min_args) + " arguments";
    return usage_error(ctx.err, "bocker: '" + path + "' requires at least " + what, usage_line(cmd, path),
                       path);
  }
  if (cmd.max_args >= 0 && n > cmd.max_args) {
    std::string msg = cmd.max_args == 0 ? "accepts no arguments"
                                        : "accepts at most " + std::to_string(cmd.max_args) +
                                              (cmd.max_args == 1 ? " argument" : " arguments");
    return usage_error(ctx.err, "bocker: '" + path + "' " + msg, usage_line(cmd, path), path);
  }
  ctx.flags = std::move(parsed.flags);
  ctx.args = std::move(parsed.args);
  ctx.command_path = path;
  return call_handler(cmd, ctx, path);
}

}  // namespace

FlagSpec format_flag() {
  return FlagSpec{
      .short_name = 'f',
      .long_name = "format",
      .type = FlagSpec::Type::kString,
      .help = "Format output: 'json', '{{json .}}' or a template of {{.Field}} / {{json .Field}}"};
}

const Host& Context::host() {
  if (!host_) host_ = select_host(host_flag_, env);
  return *host_;
}

Client& Context::client() {
  if (!client_) client_ = std::make_unique<Client>(connect_daemon(host(), env, err));
  return *client_;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      commit_command(),  container_command(), create_command(), exec_command(),    image_command(),
      images_command(),  import_command(),    info_command(),   init_command(),    inspect_command(),
      kill_command(),    logs_command(),      pause_command(),  port_command(),    ps_command(),
      pull_command(),    rename_command(),    restart_command(), rm_command(),    rmi_command(),
      run_command(),     start_command(),     stats_command(),  stop_command(),    tag_command(),
      top_command(),     unpause_command(),   version_command(), volume_command(), wait_command(),
  };
  return table;
}

const std::vector<FlagSpec>& global_flags() {
  static const std::vector<FlagSpec> flags = {
      {.short_name = 'H',
       .long_name = "host",
       .type = FlagSpec::Type::kString,
       .help = "Daemon socket to connect to: unix:///path or tcp://host:port",
       .default_value = "$BOCKER_HOST, else " + std::string(kDefaultHost)},
      {.short_name = 'h', .long_name = "help", .help = "Print usage"},
      {.short_name = 'v', .long_name = "version", .help = "Print version information and quit"},
  };
  return flags;
}

std::string main_help() {
  std::string s =
      "Usage:  bocker [OPTIONS] COMMAND\n\n"
      "A container engine speaking the Docker Engine API\n\n"
      "Commands:\n";
  s += command_list(commands());
  s += "\nGlobal Options:\n" + format_flags(global_flags());
  s += "\nEnvironment:\n"
       "  BOCKER_HOST                Daemon socket, when -H is not given\n"
       "  BOCKER_NO_AUTOSTART=1      Do not start bockerd when no daemon answers on a unix socket\n"
       "  BOCKER_DAEMON_PATH         bockerd binary to start (default: next to bocker, else $PATH)\n"
       "  BOCKER_ROOT                Passed to a started bockerd as --root\n"
       "  BOCKER_METRICS_ADDR        Passed to a started bockerd as --metrics-addr (empty: no metrics "
       "listener)\n"
       "  BOCKER_BRIDGE              Passed to a started bockerd as --bridge (none: no bridge network)\n"
       "  BOCKER_DAEMON_LOG          Log of a started bockerd (default /var/log/bocker/bockerd.log,\n"
       "                             else /tmp/bockerd-<uid>.log)\n"
       "  BOCKER_AUTOSTART_TIMEOUT   Seconds to wait for a started bockerd (default 10)\n"
       "\nRun 'bocker COMMAND --help' for more information on a command.\n";
  return s;
}

std::string command_help(const Command& cmd, const std::string& path) {
  std::string s = usage_line(cmd, path) + "\n";
  s += (cmd.description.empty() ? cmd.summary : cmd.description) + "\n";
  if (!cmd.aliases.empty()) {
    std::string prefix = path.substr(0, path.rfind(' ') + 1);
    s += "\nAliases:\n  " + path;
    for (const auto& a : cmd.aliases) s += ", " + prefix + a;
    s += "\n";
  }
  if (!cmd.subcommands.empty()) s += "\nCommands:\n" + command_list(cmd.subcommands);
  std::string opts = format_flags(cmd.flags);
  if (!opts.empty()) s += "\nOptions:\n" + opts;
  if (!cmd.subcommands.empty())
    s += "\nRun '" + path + " COMMAND --help' for more information on a command.\n";
  return s;
}

int run(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err, const Env& env,
        int in_fd) {
  const std::string global_usage = "Usage:  bocker [OPTIONS] COMMAND [ARG...]\n";
  ParsedArgs global;
  try {
    global = parse_flags(global_flags(), argv, /*interspersed=*/false);
  } catch (const UsageError& e) {
    return usage_error(err, e.what(), global_usage, "bocker");
  }
  if (global.flags.get_bool("version")) {
    out << "bocker version " << build::kVersion << ", build " << build::kGitCommit << "\n";
    return 0;
  }
  if (global.flags.get_bool("help") || global.args.empty()) {
    out << main_help();
    return 0;
  }
  const std::string& name = global.args[0];
  if (name == "help") {
    if (global.args.size() < 2) {
      out << main_help();
      return 0;
    }
    const Command* cmd = find_command(commands(), global.args[1]);
    std::string path = "bocker " + global.args[1];
    for (size_t i = 2; cmd != nullptr && i < global.args.size(); ++i) {
      cmd = find_command(cmd->subcommands, global.args[i]);
      path += " " + global.args[i];
    }
    if (cmd == nullptr) {
      return usage_error(err, "bocker: unknown help topic: " + path.substr(7), "", "bocker");
    }
    out << command_help(*cmd, path);
    return 0;
  }
  const Command* cmd = find_command(commands(), name);
  if (cmd == nullptr) return usage_error(err, "bocker: unknown command: bocker " + name, "", "bocker");
  std::string host_flag = global.flags.get_string("host");
  if (!host_flag.empty()) {
    try {
      parse_host(host_flag);
    } catch (const Error& e) {
      return usage_error(err, e.what(), global_usage, "bocker");
    }
  }
  Context ctx(out, err, env, host_flag, in_fd);
  return dispatch(*cmd, std::span<const std::string>(global.args).subspan(1), "bocker " + cmd->name, ctx);
}

}  // namespace bocker::cli
