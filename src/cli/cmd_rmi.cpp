// bocker rmi [-f] [--no-prune] IMAGE [IMAGE...]: DELETE /images/{name} for each, printing the
// "Untagged:"/"Deleted:" lines; goes on after a failure and exits 1 if any failed.
#include "bocker/cli/image_format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_rmi(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> query;
  if (ctx.flags.get_bool("force")) query.emplace_back("force", "1");
  if (ctx.flags.get_bool("no-prune")) query.emplace_back("noprune", "1");
  bool failed = false;
  for (const auto& name : ctx.args) {
    Response r = ctx.client().del("/images/" + image_path(name) + build_query(query));
    if (!r.ok()) {
      ctx.err << "Error response from daemon: " << r.error_message() << "\n";
      failed = true;
      continue;
    }
    auto items = nlohmann::json::parse(r.body.empty() ? "[]" : r.body, nullptr, false);
    if (!items.is_array()) {
      ctx.err << "bocker: invalid JSON in the daemon's answer to DELETE /images/" << name << "\n";
      failed = true;
      continue;
    }
    for (const auto& item : items) {
      if (!item.is_object()) continue;
      for (const char* key : {"Untagged", "Deleted"}) {
        if (auto it = item.find(key); it != item.end() && it->is_string()) {
          ctx.out << key << ": " << it->get<std::string>() << "\n";
        }
      }
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

Command rmi_command() {
  return Command{.name = "rmi",
                 .summary = "Remove one or more images",
                 .usage = "[OPTIONS] IMAGE [IMAGE...]",
                 .flags = {{.short_name = 'f', .long_name = "force", .help = "Force removal of the image"},
                           {.long_name = "no-prune", .help = "Do not delete untagged parents"}},
                 .min_args = 1,
                 .handler = run_rmi};
}

}  // namespace bocker::cli
