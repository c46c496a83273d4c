// bocker exec [-d -i -t -u -w -e --env-file --privileged] CONTAINER COMMAND [ARG...]:
// POST /containers/{id}/exec, POST /exec/{id}/start (hijacked), GET /exec/{id}/json for the code.
#include <unistd.h>

#include "bocker/cli/container_opts.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/stdio_stream.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_exec(Context& ctx) {
  bool detach = ctx.flags.get_bool("detach");
  bool interactive = ctx.flags.get_bool("interactive");
  bool tty = ctx.flags.get_bool("tty");
  if (tty && interactive && ::isatty(ctx.in_fd) == 0) {
    ctx.err << "the input device is not a TTY\n";
    return 1;
  }
  std::vector<std::string> env;
  for (const auto& f : ctx.flags.get_list("env-file")) {
    for (auto& e : read_env_file(f, ctx.env)) env.push_back(std::move(e));
  }
  for (const auto& e : ctx.flags.get_list("env")) env.push_back(expand_env_entry(e, ctx.env));
  nlohmann::json body = {{"AttachStdin", interactive && !detach},
                         {"AttachStdout", !detach},
                         {"AttachStderr", !detach},
                         {"Tty", tty},
                         {"Privileged", ctx.flags.get_bool("privileged")},
                         {"Cmd", std::vector<std::string>(ctx.args.begin() + 1, ctx.args.end())}};
  if (!env.empty()) body["Env"] = env;
  if (ctx.flags.has("user")) body["User"] = ctx.flags.get_string("user");
  if (ctx.flags.has("workdir")) body["WorkingDir"] = ctx.flags.get_string("workdir");
  if (tty) {
    if (auto size = terminal_size(STDOUT_FILENO)) body["ConsoleSize"] = {size->first, size->second};
  }
  Client& client = ctx.client();
  nlohmann::json created = client.post_json("/containers/" + url_encode(ctx.args[0]) + "/exec", body);
  std::string exec_id = json_str(created, "Id");
  if (exec_id.empty())
    throw Error("the daemon's answer to POST /containers/" + ctx.args[0] + "/exec has no Id");
  std::string base = "/exec/" + url_encode(exec_id);
  if (detach) {
    client.post_json(base + "/start", {{"Detach", true}, {"Tty", tty}});
    return 0;
  }
  nlohmann::json start = {{"Detach", false}, {"Tty", tty}};
  if (body.contains("ConsoleSize")) start["ConsoleSize"] = body["ConsoleSize"];
  Hijacked conn = client.hijack(Request{.method = "POST", .path = base + "/start", .body = start.dump()});
  {
    RawTerminal raw(tty && interactive ? ctx.in_fd : -1);
    pump(conn, PumpOptions{.stdin_fd = interactive ? ctx.in_fd : -1, .tty = tty},
         OutputSinks{ctx.out, ctx.err});
  }
  nlohmann::json info = client.get_json(base + "/json");
  if (!info.contains("ExitCode") || !info["ExitCode"].is_number_integer()) return 0;
  return info["ExitCode"].get<int>();
}

}  // namespace

Command exec_command() {
  using Type = FlagSpec::Type;
  return Command{
      .name = "exec",
      .summary = "Execute a command in a running container",
      .usage = "[OPTIONS] CONTAINER COMMAND [ARG...]",
      .flags =
          {{.short_name = 'd', .long_name = "detach", .help = "Detached mode: run command in the background"},
           {.short_name = 'e', .long_name = "env", .type = Type::kList, .help = "Set environment variables"},
           {.long_name = "env-file", .type = Type::kList, .help = "Read in a file of environment variables"},
           {.short_name = 'i', .long_name = "interactive", .help = "Keep STDIN open even if not attached"},
           {.long_name = "privileged", .help = "Give extended privileges to the command"},
           {.short_name = 't', .long_name = "tty", .help = "Allocate a pseudo-TTY"},
           {.short_name = 'u',
            .long_name = "user",
            .type = Type::kString,
            .help = "Username or UID (format: \"<name|uid>[:<group|gid>]\")"},
           {.short_name = 'w',
            .long_name = "workdir",
            .type = Type::kString,
            .help = "Working directory inside the container"}},
      .min_args = 2,
      .interspersed = false,
      .handler = run_exec};
}

}  // namespace bocker::cli
