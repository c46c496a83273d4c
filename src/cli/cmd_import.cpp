// bocker import [-c CHANGE]... [-m MSG] [--platform P] TARBALL|URL|- [REPOSITORY[:TAG]]:
// POST /images/create?fromSrc=-&repo=&tag= with the file (or stdin) streamed as the body; prints
// the new image id.
#include <fcntl.h>
#include <unistd.h>

#include "bocker/cli/image_format.hpp"
#include "bocker/cli/progress.hpp"
#include "bocker/registry/reference.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

int run_import(Context& ctx) {
  const std::string& source = ctx.args[0];
  ImportQuery q;
  q.repository = ctx.args.size() > 1 ? ctx.args[1] : std::string();
  q.message = ctx.flags.get_string("message");
  q.changes = ctx.flags.get_list("change");
  q.platform = ctx.flags.get_string("platform");
  if (source.starts_with("http://") || source.starts_with("https://")) {
    q.from_src = source;  // the daemon fetches it (or says it cannot)
    return print_import(ctx, import_image(ctx, q, nullptr));
  }
  Fd owned;
  int fd = STDIN_FILENO;
  std::string what = "standard input";
  if (source != "-") {
    owned.reset(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned) throw SystemError(errno, "open", source);
    fd = owned.get();
    what = source;
  }
  auto body = [fd, &what](char* buf, std::size_t max) -> std::size_t {
    for (;;) {
      ssize_t n = ::read(fd, buf, max);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw SystemError(errno, "read", what);
    }
  };
  return print_import(ctx, import_image(ctx, q, body));
}

}  // namespace

int print_import(Context& ctx, const ImportResult& r) {
  if (!r.error.empty()) {
    ctx.err << r.error << "\n";
    return 1;
  }
  ctx.out << r.id << "\n";
  return 0;
}

ImportResult import_image(Context& ctx, const ImportQuery& q,
                          std::function<std::size_t(char*, std::size_t)> body) {
  std::vector<std::pair<std::string, std::string>> query = {{"fromSrc", q.from_src}};
  if (!q.repository.empty()) {
    registry::Reference ref = registry::parse_reference(q.repository);
    if (!ref.digest.empty()) throw invalid("cannot import as a digest reference: " + q.repository);
    query.emplace_back("repo", ref.name());
    query.emplace_back("tag", ref.tag.empty() ? "latest" : ref.tag);
  }
  if (!q.message.empty()) query.emplace_back("message", q.message);
  for (const auto& c : q.changes) query.emplace_back("changes", c);
  if (!q.platform.empty()) query.emplace_back("platform", q.platform);
  Request req{.method = "POST",
              .path = "/images/create" + build_query(query),
              .content_type = "application/x-tar",
              .body_source = std::move(body)};
  std::ostream discard(nullptr);  // only the id is printed; progress messages are dropped
  ProgressRenderer progress(discard, false);
  ctx.client().stream(req, [&](std::string_view line) { return progress.add_line(line); });
  if (progress.failed()) return ImportResult{.error = progress.error()};
  const std::string& id = progress.last_status();
  if (!id.starts_with("sha256:")) throw Error("the daemon's answer to the import names no image id");
  return ImportResult{.id = id};
}

Command import_command() {
  return Command{.name = "import",
                 .summary = "Import the contents from a tarball to create a filesystem image",
                 .usage = "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                 .flags = {{.short_name = 'c',
                            .long_name = "change",
                            .type = FlagSpec::Type::kList,
                            .help = "Apply Dockerfile instruction to the created image"},
                           {.short_name = 'm',
                            .long_name = "message",
                            .type = FlagSpec::Type::kString,
                            .help = "Set commit message for imported image"},
                           {.long_name = "platform",
                            .type = FlagSpec::Type::kString,
                            .help = "Set platform if server is multi-platform capable"}},
                 .min_args = 1,
                 .max_args = 2,
                 .handler = run_import};
}

}  // namespace bocker::cli
