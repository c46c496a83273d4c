// bocker logs [-f -t --tail N --since T --until T] CONTAINER: GET /containers/{id}/logs, frames
// split to stdout/stderr (raw for a TTY container).
#include <charconv>
#include <ctime>

#include "bocker/cli/format.hpp"
#include "bocker/cli/stdio_stream.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

// --since/--until: unix seconds ("1700000000[.5]"), RFC 3339 ("2024-01-02T03:04:05Z", date
// "2024-01-02") or a duration before now ("10m", "1h30m", "42s"). Returns unix seconds as text.
std::string timestamp_arg(const std::string& v, const char* flag, std::time_t now) {
  double d = 0;
  if (auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      ec == std::errc() && p == v.data() + v.size()) {
    return v;
  }
  std::tm tm{};
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"}) {
    tm = {};
    const char* end = ::strptime(v.c_str(), fmt, &tm);
    if (end != nullptr && (*end == '\0' || *end == '.' || *end == 'Z')) return std::to_string(::timegm(&tm));
  }
  double total = 0;
  std::string_view rest = v;
  while (!rest.empty()) {
    double n = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc() || p == rest.data() + rest.size()) {
      throw UsageError("invalid value for \"" + std::string(flag) + "\": " + v);
    }
    rest.remove_prefix(static_cast<std::size_t>(p - rest.data()));
    double unit = 0;
    if (rest.starts_with("ms")) {
      unit = 0.001;
      rest.remove_prefix(2);
    } else if (rest.starts_with("s") || rest.starts_with("m") || rest.starts_with("h")) {
      unit = rest.front() == 's' ? 1 : rest.front() == 'm' ? 60 : 3600;
      rest.remove_prefix(1);
    } else {
      throw UsageError("invalid value for \"" + std::string(flag) + "\": " + v);
    }
    total += n * unit;
  }
  return std::to_string(static_cast<long long>(static_cast<double>(now) - total));
}

int run_logs(Context& ctx) {
  nlohmann::json c = inspect_container(ctx, ctx.args[0]);
  std::string id = json_str(c, "Id", ctx.args[0]);
  bool tty = c.contains("Config") && c["Config"].is_object() && c["Config"].value("Tty", false);
  std::vector<std::pair<std::string, std::string>> q = {{"stdout", "1"}, {"stderr", "1"}};
  if (ctx.flags.get_bool("follow")) q.emplace_back("follow", "1");
  if (ctx.flags.get_bool("timestamps")) q.emplace_back("timestamps", "1");
  std::time_t now = std::time(nullptr);
  if (ctx.flags.has("since"))
    q.emplace_back("since", timestamp_arg(ctx.flags.get_string("since"), "--since", now));
  if (ctx.flags.has("until"))
    q.emplace_back("until", timestamp_arg(ctx.flags.get_string("until"), "--until", now));
  q.emplace_back("tail", ctx.flags.get_string("tail", "all"));
  OutputSinks sinks{ctx.out, ctx.err};
  FrameDemuxer demux([&](StdStream s, std::string_view d) { sinks.write(s, d); });
  Request req{.method = "GET", .path = "/containers/" + url_encode(id) + "/logs" + build_query(q)};
  ctx.client().stream(
      req,
      [&](std::string_view chunk) {
        if (tty) {
          sinks.write(StdStream::kStdout, chunk);
        } else {
          demux.feed(chunk);
        }
        return true;
      },
      /*by_line=*/false);
  return 0;
}

}  // namespace

Command logs_command() {
  using Type = FlagSpec::Type;
  return Command{.name = "logs",
                 .summary = "Fetch the logs of a container",
                 .usage = "[OPTIONS] CONTAINER",
                 .flags = {{.long_name = "details", .help = "Show extra details provided to logs"},
                           {.short_name = 'f', .long_name = "follow", .help = "Follow log output"},
                           {.long_name = "since",
                            .type = Type::kString,
                            .help = "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative "
                                    "(e.g. \"42m\" for 42 minutes)"},
                           {.short_name = 'n',
                            .long_name = "tail",
                            .type = Type::kString,
                            .help = "Number of lines to show from the end of the logs",
                            .default_value = "\"all\""},
                           {.short_name = 't', .long_name = "timestamps", .help = "Show timestamps"},
                           {.long_name = "until",
                            .type = Type::kString,
                            .help = "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or "
                                    "relative (e.g. \"42m\" for 42 minutes)"}},
                 .min_args = 1,
                 .max_args = 1,
                 .handler = run_logs};
}

}  // namespace bocker::cli
