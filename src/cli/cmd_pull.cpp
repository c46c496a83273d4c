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
  bool quiet = ctx.flags.get_bool("quiet");
  std::ostream discard(nullptr);  // -q: a stream that drops what it is given
  std::string error;
  std::string canonical = pull_image(ctx, text, ctx.flags.get_string("platform"), quiet ? discard : ctx.out,
                                     !quiet && is_terminal(ctx.out), error);
  if (!error.empty()) {
    ctx.err << error << "\n";
    return 1;
  }
  ctx.out << canonical << "\n";
  return 0;
}

}  // namespace

std::string pull_image(Context& ctx, const std::string& text, const std::string& platform, std::ostream& out,
                       bool tty, std::string& error) {
  ApiReference ref = api_reference(text);
  std::vector<std::pair<std::string, std::string>> query = {{"fromImage", ref.name}, {"tag", ref.tag}};
  if (!platform.empty()) query.emplace_back("platform", platform);
  ProgressRenderer progress(out, tty);
  Request req{.method = "POST", .path = "/images/create" + build_query(query)};
  ctx.client().stream(req, [&](std::string_view line) { return progress.add_line(line); });
  error = progress.failed() ? progress.error() : std::string();
  return ref.canonical;
}

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
