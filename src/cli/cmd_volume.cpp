// bocker volume ls [-q] | create [-d -o -l] [NAME] | rm [-f] NAME... | inspect NAME...
#include "bocker/cli/container_format.hpp"
#include "bocker/cli/format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

using Type = FlagSpec::Type;

int run_ls(Context& ctx) {
  nlohmann::json j = ctx.client().get_json("/volumes");
  nlohmann::json vols = j.is_object() ? j.value("Volumes", nlohmann::json::array()) : nlohmann::json::array();
  if (!vols.is_array()) vols = nlohmann::json::array();
  std::string format = ctx.flags.get_string("format");
  bool quiet = ctx.flags.get_bool("quiet");
  std::vector<std::vector<std::string>> cells = {{"DRIVER", "VOLUME NAME"}};
  std::string out;
  for (const auto& v : vols) {
    if (quiet) {
      out += json_str(v, "Name") + "\n";
    } else if (!format.empty() && format != "table") {
      nlohmann::json row = {{"Driver", json_str(v, "Driver")},
                            {"Name", json_str(v, "Name")},
                            {"Mountpoint", json_str(v, "Mountpoint")},
                            {"Scope", json_str(v, "Scope")}};
      print_formatted(format == "{{json .}}" ? "json" : format, row, out);
    } else {
      cells.push_back({json_str(v, "Driver"), json_str(v, "Name")});
    }
  }
  ctx.out << (quiet || (!format.empty() && format != "table") ? out : tabulate(cells));
  return 0;
}

nlohmann::json key_values(const std::vector<std::string>& items) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& kv : items) {
    auto eq = kv.find('=');
    o[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return o;
}

int run_create(Context& ctx) {
  std::string name = ctx.flags.get_string("name");
  if (!ctx.args.empty()) {
    if (!name.empty() && name != ctx.args[0]) {
      throw UsageError(
          "conflicting options: cannot specify a volume-name through both --name and as a positional arg");
    }
    name = ctx.args[0];
  }
  nlohmann::json body = {{"Name", name},
                         {"Driver", ctx.flags.get_string("driver", "local")},
                         {"DriverOpts", key_values(ctx.flags.get_list("opt"))},
                         {"Labels", key_values(ctx.flags.get_list("label"))}};
  nlohmann::json v = ctx.client().post_json("/volumes/create", body);
  ctx.out << json_str(v, "Name", name) << "\n";
  return 0;
}

int run_rm(Context& ctx) {
  std::string q = ctx.flags.get_bool("force") ? "?force=1" : "";
  return for_each_container(ctx, [&](const std::string& n) {
    Response r = ctx.client().del("/volumes/" + url_encode(n) + q);
    if (!r.ok()) throw DaemonError(r.status, r.error_message());
  });
}

int run_inspect(Context& ctx) {
  nlohmann::json all = nlohmann::json::array();
  bool failed = false;
  for (const auto& n : ctx.args) {
    Response r = ctx.client().get("/volumes/" + url_encode(n));
    if (!r.ok()) {
      ctx.err << "Error response from daemon: " << r.error_message() << "\n";
      failed = true;
      continue;
    }
    all.push_back(nlohmann::json::parse(r.body, nullptr, false));
  }
  std::string format = ctx.flags.get_string("format");
  std::string out;
  if (format.empty()) {
    out = all.dump(4) + "\n";
  } else {
    for (const auto& o : all) print_formatted(format == "{{json .}}" ? "json" : format, o, out);
  }
  ctx.out << out;
  return failed ? 1 : 0;
}

}  // namespace

Command volume_command() {
  return Command{
      .name = "volume",
      .summary = "Manage volumes",
      .usage = "COMMAND",
      .subcommands = {
          {.name = "create",
           .summary = "Create a volume",
           .usage = "[OPTIONS] [VOLUME]",
           .flags =
               {{.short_name = 'd',
                 .long_name = "driver",
                 .type = Type::kString,
                 .help = "Specify volume driver name",
                 .default_value = "\"local\""},
                {.short_name = 'l',
                 .long_name = "label",
                 .type = Type::kList,
                 .help = "Set metadata for a volume"},
                {.long_name = "name", .type = Type::kString, .help = "Specify volume name", .hidden = true},
                {.short_name = 'o',
                 .long_name = "opt",
                 .type = Type::kList,
                 .help = "Set driver specific options"}},
           .max_args = 1,
           .handler = run_create},
          {.name = "inspect",
           .summary = "Display detailed information on one or more volumes",
           .usage = "[OPTIONS] VOLUME [VOLUME...]",
           .flags = {format_flag()},
           .min_args = 1,
           .handler = run_inspect},
          {.name = "ls",
           .aliases = {"list"},
           .summary = "List volumes",
           .usage = "[OPTIONS]",
           .flags = {{.long_name = "format",
                      .type = Type::kString,
                      .help = "Format output: 'table', 'json' or a template"},
                     {.short_name = 'q', .long_name = "quiet", .help = "Only display volume names"}},
           .max_args = 0,
           .handler = run_ls},
          {.name = "rm",
           .aliases = {"remove"},
           .summary = "Remove one or more volumes",
           .usage = "[OPTIONS] VOLUME [VOLUME...]",
           .flags = {{.short_name = 'f',
                      .long_name = "force",
                      .help = "Force the removal of one or more volumes"}},
           .min_args = 1,
           .handler = run_rm},
      }};
}

}  // namespace bocker::cli
