// bocker run / bocker create (and the old `bocker run IMAGE CMD...`, the same syntax): create the
// container (pulling a missing image first, like docker), then for run either start it and print
// its id (-d) or attach, start, copy the streams and exit with the container's code.
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <ostream>

#include "bocker/cli/container_opts.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/stdio_stream.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

// run and create report daemon errors like docker: prefixed, with a hint, exit 125.
int daemon_failure(Context& ctx, const std::string& msg, int code = kExitUsage) {
  ctx.err << "bocker: Error response from daemon: " << msg << "\n\nRun '" << ctx.command_path
          << " --help' for more information\n";
  return code;
}

// "alpine" -> "alpine:latest", as docker names the image it could not find.
std::string with_default_tag(const std::string& image) {
  auto slash = image.rfind('/');
  std::string last = slash == std::string::npos ? image : image.substr(slash + 1);
  if (last.find(':') != std::string::npos || image.find('@') != std::string::npos) return image;
  return image + ":latest";
}

bool is_missing_image(const DaemonError& e) {
  return e.status() == 404 && std::string_view(e.what()).find("No such image") != std::string_view::npos;
}

// POST /containers/create, pulling the image once when the daemon does not have it. Returns the
// id, or throws DaemonError. A failed pull is reported and yields "" (exit 125).
std::string create_container(Context& ctx, const CreateRequest& req) {
  std::vector<std::pair<std::string, std::string>> query;
  if (!req.name.empty()) query.emplace_back("name", req.name);
  std::string path = "/containers/create" + build_query(query);
  nlohmann::json answer;
  try {
    answer = ctx.client().post_json(path, req.body);
  } catch (const DaemonError& e) {
    if (!is_missing_image(e)) throw;
    ctx.err << "Unable to find image '" << with_default_tag(req.image) << "' locally\n";
    std::string error;
    pull_image(ctx, req.image, "", ctx.err, false, error);
    if (!error.empty()) {
      ctx.err << "bocker: " << error << "\n\nRun '" << ctx.command_path << " --help' for more information\n";
      return "";
    }
    answer = ctx.client().post_json(path, req.body);
  }
  if (answer.contains("Warnings") && answer["Warnings"].is_array()) {
    for (const auto& w : answer["Warnings"]) {
      if (w.is_string()) ctx.err << "WARNING: " << w.get<std::string>() << "\n";
    }
  }
  std::string id = json_str(answer, "Id");
  if (id.empty()) throw Error("the daemon's answer to POST /containers/create has no Id");
  return id;
}

int run_create(Context& ctx) {
  CreateRequest req = build_create_request(ctx.flags, ctx.args, /*detach=*/true, ctx.env);
  try {
    std::string id = create_container(ctx, req);
    if (id.empty()) return kExitUsage;
    ctx.out << id << "\n";
    return 0;
  } catch (const DaemonError& e) {
    return daemon_failure(ctx, e.what());
  }
}

int run_run(Context& ctx) {
  bool detach = ctx.flags.get_bool("detach");
  bool tty = ctx.flags.get_bool("tty");
  bool interactive = ctx.flags.get_bool("interactive");
  if (tty && interactive && ::isatty(ctx.in_fd) == 0) {
    ctx.err << "the input device is not a TTY\n";
    return 1;
  }
  CreateRequest req = build_create_request(ctx.flags, ctx.args, detach, ctx.env);
  if (tty) {
    if (auto size = terminal_size(STDOUT_FILENO))
      req.body["HostConfig"]["ConsoleSize"] = {size->first, size->second};
  }
  std::string id;
  try {
    id = create_container(ctx, req);
    if (id.empty()) return kExitUsage;
    if (detach) {
      Response r = ctx.client().post("/containers/" + url_encode(id) + "/start");
      if (!r.ok()) return daemon_failure(ctx, r.error_message(), start_error_code(r.error_message()));
      ctx.out << id << "\n";
      return 0;
    }
    bool rm = ctx.flags.get_bool("rm");
    return attach_start_wait(ctx, id, tty, interactive, rm ? "removed" : "next-exit", true);
  } catch (const DaemonError& e) {
    return daemon_failure(ctx, e.what(), id.empty() ? kExitUsage : start_error_code(e.what()));
  }
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "INT";
    case SIGTERM:
      return "TERM";
    case SIGHUP:
      return "HUP";
    case SIGQUIT:
      return "QUIT";
    default:
      return std::to_string(sig);
  }
}

}  // namespace

int start_error_code(const std::string& message) {
  if (message.find("executable file not found") != std::string::npos ||
      message.find("no such file or directory") != std::string::npos) {
    return 127;
  }
  if (message.find("permission denied") != std::string::npos ||
      message.find("is a directory") != std::string::npos) {
    return 126;
  }
  return kExitUsage;
}

int attach_start_wait(Context& ctx, const std::string& id, bool tty, bool with_stdin,
                      const std::string& wait_condition, bool start) {
  Client& client = ctx.client();
  std::string base = "/containers/" + url_encode(id);
  std::string query = "?stream=1&stdout=1&stderr=1";
  if (with_stdin) query += "&stdin=1";
  // Like docker: attached and waiting (both answer heads in) before the start. The two requests go
  // out back to back on their own connections and their answers are read afterwards, which saves
  // a round trip.
  Client::PendingRaw attach_req =
      client.send_raw(Request{.method = "POST", .path = base + "/attach" + query}, /*upgrade=*/true);
  Client::PendingRaw wait_req = client.send_raw(
      Request{.method = "POST", .path = base + "/wait?condition=" + wait_condition}, /*upgrade=*/false);
  Hijacked conn = client.finish_raw(std::move(attach_req));
  Hijacked wait = client.finish_raw(std::move(wait_req));
  if (start) {
    Response r = client.post(base + "/start");
    if (!r.ok()) throw DaemonError(r.status, r.error_message());
  }
  auto resize = [&] {
    auto size = terminal_size(STDOUT_FILENO);
    if (!size) return;
    client.post(base + "/resize" +
                build_query({{"h", std::to_string(size->first)}, {"w", std::to_string(size->second)}}));
  };
  if (tty) resize();
  {
    RawTerminal raw(tty && with_stdin ? ctx.in_fd : -1);
    PumpOptions opts{.stdin_fd = with_stdin ? ctx.in_fd : -1, .tty = tty};
    opts.on_signal = [&](int sig) {
      if (sig == SIGWINCH) {
        if (tty) resize();
        return;
      }
      // Like docker's sig-proxy: the signal goes to the container, which decides.
      client.post(base + "/kill" + build_query({{"signal", signal_name(sig)}}));
    };
    pump(conn, opts, OutputSinks{ctx.out, ctx.err});
  }
  std::string body = read_body(wait);
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("StatusCode")) {
    throw Error("unexpected answer to POST " + base + "/wait: " + body);
  }
  if (j.contains("Error") && j["Error"].is_object()) {
    std::string msg = json_str(j["Error"], "Message");
    if (!msg.empty()) ctx.err << msg << "\n";
  }
  return j["StatusCode"].get<int>();
}

Command create_command() {
  return Command{.name = "create",
                 .summary = "Create a new container",
                 .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                 .flags = container_create_flags(),
                 .min_args = 1,
                 .interspersed = false,
                 .handler = run_create};
}

Command run_command() {
  std::vector<FlagSpec> flags = container_create_flags();
  flags.insert(flags.begin(), FlagSpec{.short_name = 'd',
                                       .long_name = "detach",
                                       .help = "Run container in background and print container ID"});
  return Command{.name = "run",
                 .summary = "Create and run a new container from an image",
                 .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                 .flags = std::move(flags),
                 .min_args = 1,
                 .interspersed = false,
                 .handler = run_run};
}

}  // namespace bocker::cli
