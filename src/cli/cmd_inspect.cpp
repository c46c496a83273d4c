// bocker inspect [-f F] [--type container|image|volume] NAME...: a JSON array like docker's, each
// name looked up as a container, then an image (then a volume when --type says so).
#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

// The object `name` of one kind; null when the daemon says 404.
nlohmann::json lookup(Context& ctx, const std::string& kind, const std::string& name) {
  std::string path = kind == "container" ? "/containers/" + url_encode(name) + "/json"
                     : kind == "image"   ? "/images/" + image_path(name) + "/json"
                                         : "/volumes/" + url_encode(name);
  Response r = ctx.client().get(path);
  if (r.status == 404) return nullptr;
  if (!r.ok()) throw DaemonError(r.status, r.error_message());
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) throw Error("invalid JSON in the daemon's answer to GET " + path);
  return j;
}

int run_inspect(Context& ctx) {
  std::string type = ctx.flags.get_string("type");
  std::vector<std::string> kinds;
  if (type.empty()) {
    kinds = {"container", "image"};
  } else if (type == "container" || type == "image" || type == "volume") {
    kinds = {type};
  } else {
    throw UsageError("\"" + type + "\" is not a valid value for --type");
  }
  nlohmann::json all = nlohmann::json::array();
  std::vector<std::string> missing;
  for (const auto& name : ctx.args) {
    nlohmann::json found;
    for (const auto& k : kinds) {
      found = lookup(ctx, k, name);
      if (!found.is_null()) break;
    }
    if (found.is_null()) {
      missing.push_back(name);
    } else {
      all.push_back(std::move(found));
    }
  }
  std::string format = ctx.flags.get_string("format");
  std::string out;
  if (format.empty()) {
    out = all.dump(4) + "\n";
  } else {
    for (const auto& o : all) print_formatted(format == "{{json .}}" ? "json" : format, o, out);
  }
  ctx.out << out;
  for (const auto& m : missing) {
    ctx.err << "Error: No such " << (type.empty() ? "object" : type) << ": " << m << "\n";
  }
  return missing.empty() ? 0 : 1;
}

}  // namespace

Command inspect_command() {
  return Command{.name = "inspect",
                 .summary = "Return low-level information on Docker objects",
                 .usage = "[OPTIONS] NAME|ID [NAME|ID...]",
                 .flags = {format_flag(),
                           {.short_name = 's',
                            .long_name = "size",
                            .help = "Display total file sizes if the type is container"},
                           {.long_name = "type",
                            .type = FlagSpec::Type::kString,
                            .help = "Only inspect objects of the given type (container, image, volume)"}},
                 .min_args = 1,
                 .handler = run_inspect};
}

}  // namespace bocker::cli
