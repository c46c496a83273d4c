// bocker pull [--platform P] [-q] NAME[:TAG|@DIGEST] (or bocker's old `pull NAME TAG`):
// POST /images/create?fromImage=&tag= with the progress stream rendered like docker.
#include <ostream>

#include "bocker/cli/image_format.hpp"
#include "bocker/cli/progress.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_pull(Context& ctx) {
  std::string text = ctx.args[0];
  if (ctx.args.size() == 2) {
    const std::string& tag = ctx.args[1];
    text += (tag.starts_with("sha256:") ? "@" : ":") + tag;
  }
  ApiReference ref = api_reference(text);
  bool quiet = ctx.flags.get_bool("quiet");
  std::vector<std::pair<std::string, std::string>> query = {{"fromImage", ref.name}, {"tag", ref.tag}};
  if (std::string platform = ctx.flags.get_string("platform"); !platform.empty()) {
    query.emplace_back("platform", platform);
  }
  std::ostream discard(nullptr);  // -q: a stream that drops what it is given
  ProgressRenderer progress(quiet ? discard : ctx.out, !quiet && is_terminal(ctx.out));
  Request req{.method = "POST", .path = "/images/create" + build_query(query)};
  ctx.client().stream(req, [&](std::string_view line) { return progress.add_line(line); });
  if (progress.failed()) {
    ctx.err << progress.error() << "\n";
    return 1;
  }
  ctx.out << ref.canonical << "\n";
  return 0;
}

}  // namespace

Command pull_command() {
  return Command{.name = "pull",
                 .summary = "Download an image from a registry",
                 .usage = "[OPTIONS] NAME[:TAG|@DIGEST] | NAME TAG",
                 .flags = {{.long_name = "platform",
                            .type = FlagSpec::Type::kString,
                            .help = "Set platform if server is multi-platform capable (e.g. linux/arm64)"},
                           {.short_name = 'q', .long_name = "quiet", .help = "Suppress verbose output"}},
                 .min_args = 1,
                 .max_args = 2,
                 .handler = run_pull};
}

}  // namespace bocker::cli
