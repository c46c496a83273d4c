// bocker image COMMAND: the image verbs grouped like `docker image` (inspect, ls, rm, pull, import,
// tag), sharing the handlers of the top-level verbs; plus the reference helpers they all use.
#include "bocker/cli/client.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "bocker/registry/reference.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_image_inspect(Context& ctx) {
  std::string format = ctx.flags.get_string("format");
  auto found = nlohmann::ordered_json::array();
  bool failed = false;
  for (const auto& name : ctx.args) {
    Response r = ctx.client().get("/images/" + image_path(name) + "/json");
    if (!r.ok()) {
      ctx.err << "Error response from daemon: " << r.error_message() << "\n";
      failed = true;
      continue;
    }
    auto j = nlohmann::ordered_json::parse(r.body, nullptr, false);
    if (j.is_discarded()) throw Error("invalid JSON in the daemon's answer to GET /images/" + name + "/json");
    found.push_back(std::move(j));
  }
  if (format.empty()) {
    ctx.out << found.dump(4) << "\n";
  } else {
    std::string out;
    for (const auto& j : found) print_formatted(format, nlohmann::json::parse(j.dump()), out);
    ctx.out << out;
  }
  return failed ? 1 : 0;
}

Command renamed(Command c, std::string name, std::vector<std::string> aliases) {
  c.name = std::move(name);
  c.aliases = std::move(aliases);
  return c;
}

}  // namespace

ApiReference api_reference(std::string_view text) {
  registry::Reference ref = registry::parse_reference(text);
  return ApiReference{
      .name = ref.name(), .tag = ref.digest.empty() ? ref.tag : ref.digest, .canonical = ref.str()};
}

std::string image_path(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || std::string_view("-_.~/:@").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Command image_inspect_command() {
  return Command{.name = "inspect",
                 .summary = "Display detailed information on one or more images",
                 .usage = "[OPTIONS] IMAGE [IMAGE...]",
                 .flags = {format_flag()},
                 .min_args = 1,
                 .handler = run_image_inspect};
}

Command image_command() {
  return Command{.name = "image",
                 .summary = "Manage images",
                 .usage = "COMMAND",
                 .subcommands = {
                     renamed(import_command(), "import", {}),
                     image_inspect_command(),
                     renamed(images_command(), "ls", {"list"}),
                     renamed(pull_command(), "pull", {}),
                     renamed(rmi_command(), "rm", {"remove"}),
                     renamed(tag_command(), "tag", {}),
                 }};
}

}  // namespace bocker::cli
