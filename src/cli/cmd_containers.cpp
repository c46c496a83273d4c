// Container lifecycle verbs: start [-a -i], stop [-t -s], kill [-s], restart [-t], rm [-f -v],
// wait, port, commit, and the `container` group that lists every container verb under one name.
#include <unistd.h>

#include <algorithm>

#include "bocker/cli/container_format.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

using Type = FlagSpec::Type;

std::string container_path(const std::string& name) { return "/containers/" + url_encode(name); }

void check(const Response& r) {
  if (!r.ok()) throw DaemonError(r.status, r.error_message());
}

int run_start(Context& ctx) {
  bool attach = ctx.flags.get_bool("attach");
  bool interactive = ctx.flags.get_bool("interactive");
  if (attach || interactive) {
    if (ctx.args.size() > 1) throw UsageError("you cannot start and attach multiple containers at once");
    nlohmann::json c = inspect_container(ctx, ctx.args[0]);
    std::string id = json_str(c, "Id", ctx.args[0]);
    bool tty = c.contains("Config") && c["Config"].value("Tty", false);
    bool rm = c.contains("HostConfig") && c["HostConfig"].value("AutoRemove", false);
    return attach_start_wait(ctx, id, tty, interactive, rm ? "removed" : "next-exit", true);
  }
  std::vector<std::string> failed;
  for (const auto& name : ctx.args) {
    Response r = ctx.client().post(container_path(name) + "/start");
    if (r.ok()) {
      ctx.out << name << "\n";
    } else {
      ctx.err << "Error response from daemon: " << r.error_message() << "\n";
      failed.push_back(name);
    }
  }
  if (failed.empty()) return 0;
  std::string list;
  for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
  ctx.err << "Error: failed to start containers: " << list << "\n";
  return 1;
}

std::vector<std::pair<std::string, std::string>> stop_query(const Context& ctx) {
  std::vector<std::pair<std::string, std::string>> q;
  if (ctx.flags.has("time")) q.emplace_back("t", std::to_string(ctx.flags.get_int("time")));
  if (ctx.flags.has("signal")) q.emplace_back("signal", ctx.flags.get_string("signal"));
  return q;
}

int run_stop(Context& ctx) {
  std::string q = build_query(stop_query(ctx));
  return for_each_container(
      ctx, [&](const std::string& n) { check(ctx.client().post(container_path(n) + "/stop" + q)); });
}

int run_restart(Context& ctx) {
  std::string q = build_query(stop_query(ctx));
  return for_each_container(
      ctx, [&](const std::string& n) { check(ctx.client().post(container_path(n) + "/restart" + q)); });
}

int run_kill(Context& ctx) {
  std::string q;
  if (ctx.flags.has("signal")) q = build_query({{"signal", ctx.flags.get_string("signal")}});
  return for_each_container(
      ctx, [&](const std::string& n) { check(ctx.client().post(container_path(n) + "/kill" + q)); });
}

// POST /containers/{name}/<action> for every name argument.
int post_each(Context& ctx, const std::string& action) {
  return for_each_container(ctx, [&](const std::string& n) { check(ctx.client().post(container_path(n) + action)); });
}

int run_pause(Context& ctx) { return post_each(ctx, "/pause"); }
int run_unpause(Context& ctx) { return post_each(ctx, "/unpause"); }

// docker top CONTAINER [ps OPTIONS]: ps's table of the container's processes.
int run_top(Context& ctx) {
  std::string ps_args;
  for (std::size_t i = 1; i < ctx.args.size(); ++i) ps_args += (ps_args.empty() ? "" : " ") + ctx.args[i];
  std::string q = ps_args.empty() ? "" : build_query({{"ps_args", ps_args}});
  nlohmann::json top = ctx.client().get_json(container_path(ctx.args[0]) + "/top" + q);
  std::vector<std::vector<std::string>> cells(1);
  for (const auto& t : top.value("Titles", nlohmann::json::array())) cells[0].push_back(t.get<std::string>());
  for (const auto& row : top.value("Processes", nlohmann::json::array())) {
    cells.emplace_back();
    for (const auto& f : row) cells.back().push_back(f.get<std::string>());
  }
  ctx.out << tabulate(cells);
  return 0;
}

int run_rename(Context& ctx) {
  check(ctx.client().post(container_path(ctx.args[0]) + "/rename" + build_query({{"name", ctx.args[1]}})));
  return 0;
}

// container prune: asks first, as docker does, unless -f.
int run_prune(Context& ctx) {
  if (!ctx.flags.get_bool("force")) {
    ctx.out << "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] " << std::flush;
    std::string answer;
    char ch;
    while (::read(ctx.in_fd, &ch, 1) == 1 && ch != '\n') answer += ch;
    if (answer != "y" && answer != "Y") {
      ctx.err << "Total reclaimed space: 0B\n";
      return 0;
    }
  }
  std::string q;
  if (ctx.flags.has("filter")) {
    nlohmann::json f = nlohmann::json::object();
    for (const auto& v : ctx.flags.get_list("filter")) {
      auto eq = v.find('=');
      f[v.substr(0, eq)][eq == std::string::npos ? "" : v.substr(eq + 1)] = true;
    }
    q = build_query({{"filters", f.dump()}});
  }
  nlohmann::json r = ctx.client().post_json("/containers/prune" + q);
  auto deleted = r.value("ContainersDeleted", nlohmann::json::array());
  if (deleted.is_array() && !deleted.empty()) {
    ctx.out << "Deleted Containers:\n";
    for (const auto& id : deleted) ctx.out << id.get<std::string>() << "\n";
    ctx.out << "\n";
  }
  ctx.out << "Total reclaimed space: " << human_bytes(r.value("SpaceReclaimed", 0.0)) << "\n";
  return 0;
}

int run_rm(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> q;
  if (ctx.flags.get_bool("force")) q.emplace_back("force", "1");
  if (ctx.flags.get_bool("volumes")) q.emplace_back("v", "1");
  std::string query = build_query(q);
  return for_each_container(
      ctx, [&](const std::string& n) { check(ctx.client().del(container_path(n) + query)); });
}

int run_wait(Context& ctx) {
  bool failed = false;
  for (const auto& name : ctx.args) {
    try {
      Hijacked h =
          ctx.client().open_stream(Request{.method = "POST", .path = container_path(name) + "/wait"});
      auto j = nlohmann::json::parse(read_body(h), nullptr, false);
      if (!j.is_object() || !j.contains("StatusCode"))
        throw Error("unexpected answer to POST /containers/" + name + "/wait");
      ctx.out << j["StatusCode"].dump() << "\n";
    } catch (const DaemonError& e) {
      ctx.err << "Error response from daemon: " << e.what() << "\n";
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

int run_port(Context& ctx) {
  nlohmann::json c = inspect_container(ctx, ctx.args[0]);
  std::string want;
  if (ctx.args.size() > 1) {
    want = ctx.args[1];
    if (want.find('/') == std::string::npos) want += "/tcp";
  }
  nlohmann::json ports = nlohmann::json::object();
  if (c.contains("NetworkSettings") && c["NetworkSettings"].is_object()) {
    ports = c["NetworkSettings"].value("Ports", nlohmann::json::object());
  }
  std::vector<std::pair<std::string, std::string>> lines;
  if (ports.is_object()) {
    for (const auto& [port, bindings] : ports.items()) {
      if (!want.empty() && port != want) continue;
      if (!bindings.is_array()) continue;
      for (const auto& b : bindings) {
        std::string ip = json_str(b, "HostIp", "0.0.0.0");
        if (ip.empty()) ip = "0.0.0.0";
        if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
        lines.emplace_back(port, ip + ":" + json_str(b, "HostPort"));
      }
    }
  }
  if (lines.empty() && !want.empty()) {
    ctx.err << "Error: No public port '" << want << "' published for " << ctx.args[0] << "\n";
    return 1;
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto& a, const auto& b) { return std::stoi(a.first) < std::stoi(b.first); });
  for (const auto& [port, host] : lines) ctx.out << (want.empty() ? port + " -> " : "") << host << "\n";
  return 0;
}

int run_commit(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> q = {{"container", ctx.args[0]}};
  if (ctx.args.size() > 1) {
    ApiReference ref = api_reference(ctx.args[1]);
    if (ref.tag.starts_with("sha256:")) throw UsageError("refusing to create a tag with a digest reference");
    q.emplace_back("repo", ref.name);
    q.emplace_back("tag", ref.tag);
  }
  if (ctx.flags.has("message")) q.emplace_back("comment", ctx.flags.get_string("message"));
  if (ctx.flags.has("author")) q.emplace_back("author", ctx.flags.get_string("author"));
  q.emplace_back("pause", ctx.flags.has("pause") && !ctx.flags.get_bool("pause") ? "0" : "1");
  for (const auto& c : ctx.flags.get_list("change")) q.emplace_back("changes", c);
  nlohmann::json j = ctx.client().post_json("/commit" + build_query(q), nlohmann::json::object());
  ctx.out << json_str(j, "Id") << "\n";
  return 0;
}

}  // namespace

int for_each_container(Context& ctx, const std::function<void(const std::string& id)>& per_container) {
  bool failed = false;
  for (const auto& name : ctx.args) {
    try {
      per_container(name);
      ctx.out << name << "\n";
    } catch (const DaemonError& e) {
      ctx.err << "Error response from daemon: " << e.what() << "\n";
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

nlohmann::json inspect_container(Context& ctx, const std::string& name) {
  return ctx.client().get_json(container_path(name) + "/json");
}

Command start_command() {
  return Command{
      .name = "start",
      .summary = "Start one or more stopped containers",
      .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
      .flags = {{.short_name = 'a',
                 .long_name = "attach",
                 .help = "Attach STDOUT/STDERR and forward signals"},
                {.short_name = 'i', .long_name = "interactive", .help = "Attach container's STDIN"}},
      .min_args = 1,
      .handler = run_start};
}

Command stop_command() {
  return Command{.name = "stop",
                 .summary = "Stop one or more running containers",
                 .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
                 .flags = {{.short_name = 's',
                            .long_name = "signal",
                            .type = Type::kString,
                            .help = "Signal to send to the container"},
                           {.short_name = 't',
                            .long_name = "time",
                            .type = Type::kInt,
                            .help = "Seconds to wait before killing the container"}},
                 .min_args = 1,
                 .handler = run_stop};
}

Command restart_command() {
  return Command{.name = "restart",
                 .summary = "Restart one or more containers",
                 .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
                 .flags = {{.short_name = 's',
                            .long_name = "signal",
                            .type = Type::kString,
                            .help = "Signal to send to the container"},
                           {.short_name = 't',
                            .long_name = "time",
                            .type = Type::kInt,
                            .help = "Seconds to wait before killing the container"}},
                 .min_args = 1,
                 .handler = run_restart};
}

Command kill_command() {
  return Command{.name = "kill",
                 .summary = "Kill one or more running containers",
                 .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
                 .flags = {{.short_name = 's',
                            .long_name = "signal",
                            .type = Type::kString,
                            .help = "Signal to send to the container"}},
                 .min_args = 1,
                 .handler = run_kill};
}

Command pause_command() {
  return Command{.name = "pause",
                 .summary = "Pause all processes within one or more containers",
                 .usage = "CONTAINER [CONTAINER...]",
                 .min_args = 1,
                 .handler = run_pause};
}

Command unpause_command() {
  return Command{.name = "unpause",
                 .summary = "Unpause all processes within one or more containers",
                 .usage = "CONTAINER [CONTAINER...]",
                 .min_args = 1,
                 .handler = run_unpause};
}

Command prune_command() {
  return Command{.name = "prune",
                 .summary = "Remove all stopped containers",
                 .usage = "[OPTIONS]",
                 .flags = {{.long_name = "filter",
                            .type = Type::kList,
                            .help = "Provide filter values (e.g. \"label=<key>=<value>\")"},
                           {.short_name = 'f', .long_name = "force", .help = "Do not prompt for confirmation"}},
                 .max_args = 0,
                 .handler = run_prune};
}

Command top_command() {
  return Command{.name = "top",
                 .summary = "Display the running processes of a container",
                 .usage = "CONTAINER [ps OPTIONS]",
                 .min_args = 1,
                 .interspersed = false,  // what follows the container goes to ps
                 .handler = run_top};
}

Command rename_command() {
  return Command{.name = "rename",
                 .summary = "Rename a container",
                 .usage = "CONTAINER NEW_NAME",
                 .min_args = 2,
                 .max_args = 2,
                 .handler = run_rename};
}

Command rm_command() {
  return Command{.name = "rm",
                 .summary = "Remove one or more containers",
                 .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
                 .flags = {{.short_name = 'f',
                            .long_name = "force",
                            .help = "Force the removal of a running container (uses SIGKILL)"},
                           {.short_name = 'v',
                            .long_name = "volumes",
                            .help = "Remove anonymous volumes associated with the container"}},
                 .min_args = 1,
                 .handler = run_rm};
}

Command wait_command() {
  return Command{.name = "wait",
                 .summary = "Block until one or more containers stop, then print their exit codes",
                 .usage = "CONTAINER [CONTAINER...]",
                 .min_args = 1,
                 .handler = run_wait};
}

Command port_command() {
  return Command{.name = "port",
                 .summary = "List port mappings or a specific mapping for the container",
                 .usage = "CONTAINER [PRIVATE_PORT[/PROTO]]",
                 .min_args = 1,
                 .max_args = 2,
                 .handler = run_port};
}

Command commit_command() {
  return Command{
      .name = "commit",
      .summary = "Create a new image from a container's changes",
      .usage = "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
      .flags = {{.short_name = 'a',
                 .long_name = "author",
                 .type = Type::kString,
                 .help = "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"},
                {.short_name = 'c',
                 .long_name = "change",
                 .type = Type::kList,
                 .help = "Apply Dockerfile instruction to the created image"},
                {.short_name = 'm', .long_name = "message", .type = Type::kString, .help = "Commit message"},
                {.short_name = 'p',
                 .long_name = "pause",
                 .help = "Pause container during commit",
                 .default_value = "true"}},
      .min_args = 1,
      .max_args = 2,
      .handler = run_commit};
}

Command container_command() {
  auto renamed = [](Command c, std::string name) {
    c.name = std::move(name);
    return c;
  };
  Command ls = renamed(ps_command(), "ls");
  ls.aliases = {"ps", "list"};
  return Command{
      .name = "container",
      .summary = "Manage containers",
      .usage = "COMMAND",
      .subcommands = {commit_command(), create_command(), exec_command(), inspect_command(), kill_command(),
                      logs_command(), ls, pause_command(), port_command(), prune_command(), rename_command(),
                      restart_command(), rm_command(), run_command(), start_command(), stats_command(),
                      stop_command(), top_command(), unpause_command(), wait_command()}};
}

}  // namespace bocker::cli
