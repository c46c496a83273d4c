// bocker tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]: POST /images/{source}/tag?repo=&tag=.
#include "bocker/cli/image_format.hpp"
#include "bocker/registry/reference.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_tag(Context& ctx) {
  registry::Reference target = registry::parse_reference(ctx.args[1]);
  if (!target.digest.empty())
    throw invalid("refusing to create a tag with a digest reference: " + ctx.args[1]);
  std::string path =
      "/images/" + image_path(ctx.args[0]) + "/tag" +
      build_query({{"repo", target.name()}, {"tag", target.tag.empty() ? "latest" : target.tag}});
  Response r = ctx.client().post(path);
  if (!r.ok()) throw DaemonError(r.status, r.error_message());
  return 0;
}

}  // namespace

Command tag_command() {
  return Command{.name = "tag",
                 .summary = "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                 .usage = "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                 .min_args = 2,
                 .max_args = 2,
                 .handler = run_tag};
}

}  // namespace bocker::cli
