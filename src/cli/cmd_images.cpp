// bocker images [-a] [-q] [--digests] [--no-trunc] [--format F] [REPOSITORY[:TAG]]: GET /images/json
// as docker's table, newest first, one row per repository:tag.
#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "bocker/registry/reference.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

constexpr std::string_view kNone = "<none>";

struct Row {
  std::string repo, tag, digest;
};

std::int64_t created_of(const nlohmann::json& img) {
  auto it = img.find("Created");
  return it != img.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

std::vector<std::string> strings_of(const nlohmann::json& img, const char* key) {
  std::vector<std::string> out;
  auto it = img.find(key);
  if (it == img.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// The rows of one image: its repositories in order of appearance, each with its tags (or <none>
// when it is only known by digest) and its first digest.
std::vector<Row> rows_of(const nlohmann::json& img) {
  std::vector<std::pair<std::string, std::vector<std::string>>> repos;
  std::map<std::string, std::string> digests;
  auto repo_entry = [&](const std::string& name) -> std::vector<std::string>& {
    for (auto& [r, tags] : repos) {
      if (r == name) return tags;
    }
    return repos.emplace_back(name, std::vector<std::string>{}).second;
  };
  for (const auto& t : strings_of(img, "RepoTags")) {
    if (t == "<none>:<none>") continue;
    try {
      registry::Reference ref = registry::parse_reference(t);
      repo_entry(ref.familiar_name()).push_back(ref.tag.empty() ? std::string(kNone) : ref.tag);
    } catch (const Error&) {
      auto colon = t.rfind(':');
      bool has_tag = colon != std::string::npos && t.find('/', colon) == std::string::npos;
      repo_entry(has_tag ? t.substr(0, colon) : t)
          .push_back(has_tag ? t.substr(colon + 1) : std::string(kNone));
    }
  }
  for (const auto& d : strings_of(img, "RepoDigests")) {
    if (d.starts_with("<none>@")) continue;
    auto at = d.find('@');
    if (at == std::string::npos) continue;
    std::string name = d.substr(0, at);
    try {
      name = registry::parse_reference(name).familiar_name();
    } catch (const Error&) {
    }
    repo_entry(name);
    digests.try_emplace(name, d.substr(at + 1));
  }
  std::vector<Row> rows;
  if (repos.empty()) rows.push_back({std::string(kNone), std::string(kNone), std::string(kNone)});
  for (auto& [repo, tags] : repos) {
    if (tags.empty()) tags.emplace_back(kNone);
    auto d = digests.find(repo);
    for (const auto& tag : tags)
      rows.push_back({repo, tag, d == digests.end() ? std::string(kNone) : d->second});
  }
  return rows;
}

bool glob(const std::string& pattern, const std::string& s) {
  return ::fnmatch(pattern.c_str(), s.c_str(), 0) == 0;
}

bool matches(const Row& row, const std::string& reference) {
  if (reference.empty()) return true;
  if (row.repo == kNone) return false;
  auto colon = reference.rfind(':');
  if (colon != std::string::npos && reference.find('/', colon) == std::string::npos) {
    return glob(reference.substr(0, colon), row.repo) && glob(reference.substr(colon + 1), row.tag);
  }
  return glob(reference, row.repo);
}

std::string utc_time(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

// Docker's tabwriter layout (minwidth 10, padding 3); the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& cells) {
  if (cells.empty()) return "";
  std::vector<std::size_t> width(cells.front().size(), 0);
  for (const auto& r : cells) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : cells) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(std::max<std::size_t>(10, width[i] + 3) - r[i].size(), ' ');
    }
    out += "\n";
  }
  return out;
}

int run_images(Context& ctx) {
  ImageListOptions opts{.quiet = ctx.flags.get_bool("quiet"),
                        .digests = ctx.flags.get_bool("digests"),
                        .no_trunc = ctx.flags.get_bool("no-trunc"),
                        .format = ctx.flags.get_string("format"),
                        .reference = ctx.args.empty() ? std::string() : ctx.args[0]};
  std::string path = "/images/json";
  if (ctx.flags.get_bool("all")) path += "?all=1";
  nlohmann::json list = ctx.client().get_json(path);
  if (!list.is_array()) throw Error("the daemon's answer to GET /images/json is not a list");
  ctx.out << format_image_list(list, opts, static_cast<std::int64_t>(std::time(nullptr)));
  return 0;
}

}  // namespace

std::string human_duration(std::int64_t s) {
  auto n = [](std::int64_t v, const char* unit) { return std::to_string(v) + " " + unit; };
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return n(s, "seconds");
  std::int64_t minutes = s / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return n(minutes, "minutes");
  std::int64_t hours = (s + 1800) / 3600;  // rounded to the nearest hour
  if (hours == 1) return "About an hour";
  if (hours < 48) return n(hours, "hours");
  if (hours < 24 * 7 * 2) return n(hours / 24, "days");
  if (hours < 24 * 30 * 2) return n(hours / 24 / 7, "weeks");
  if (hours < 24 * 365 * 2) return n(hours / 24 / 30, "months");
  return n(s / 3600 / 24 / 365, "years");
}

std::string image_size(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  std::size_t i = 0;
  while (bytes >= 1000 && i + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3g", bytes);
  if (std::string_view(buf) == "1e+03" && i + 1 < std::size(kUnits)) {  // 999.95kB rounds up: say 1MB
    std::snprintf(buf, sizeof(buf), "1");
    ++i;
  }
  return std::string(buf) + kUnits[i];
}

std::string short_image_id(std::string_view id) {
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  return std::string(id.substr(0, 12));
}

std::string format_image_list(const nlohmann::json& images, const ImageListOptions& opts, std::int64_t now) {
  std::vector<const nlohmann::json*> sorted;
  for (const auto& img : images) {
    if (img.is_object()) sorted.push_back(&img);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const nlohmann::json* a, const nlohmann::json* b) {
    return created_of(*a) > created_of(*b);
  });
  bool table_layout = opts.format.empty() || opts.format == "table";
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> header = {"REPOSITORY", "TAG"};
  if (opts.digests) header.push_back("DIGEST");
  for (const char* h : {"IMAGE ID", "CREATED", "SIZE"}) header.push_back(h);
  cells.push_back(std::move(header));
  std::string out;
  std::set<std::string> seen;
  for (const nlohmann::json* img : sorted) {
    std::string full_id = json_str(*img, "Id");
    std::string id = opts.no_trunc ? full_id : short_image_id(full_id);
    std::int64_t created = created_of(*img);
    double size = 0;
    if (auto it = img->find("Size"); it != img->end() && it->is_number()) size = it->get<double>();
    std::string since = human_duration(now - created) + " ago";
    for (const Row& row : rows_of(*img)) {
      if (!matches(row, opts.reference)) continue;
      if (opts.quiet) {
        if (seen.insert(id).second) out += id + "\n";
        continue;
      }
      if (!table_layout) {
        nlohmann::json j = {{"Containers", "N/A"},
                            {"CreatedAt", utc_time(created)},
                            {"CreatedSince", since},
                            {"Digest", row.digest},
                            {"ID", id},
                            {"Repository", row.repo},
                            {"SharedSize", "N/A"},
                            {"Size", image_size(size)},
                            {"Tag", row.tag},
                            {"UniqueSize", "N/A"},
                            {"VirtualSize", image_size(size)}};
        print_formatted(opts.format == "{{json .}}" ? "json" : opts.format, j, out);
        continue;
      }
      std::vector<std::string> r = {row.repo, row.tag};
      if (opts.digests) r.push_back(row.digest);
      r.push_back(id);
      r.push_back(since);
      r.push_back(image_size(size));
      cells.push_back(std::move(r));
    }
  }
  if (opts.quiet || !table_layout) return out;
  return table(cells);
}

Command images_command() {
  return Command{
      .name = "images",
      .summary = "List images",
      .usage = "[OPTIONS] [REPOSITORY[:TAG]]",
      .flags = {{.short_name = 'a',
                 .long_name = "all",
                 .help = "Show all images (default hides intermediate images)"},
                {.long_name = "digests", .help = "Show digests"},
                {.short_name = 'q', .long_name = "quiet", .help = "Only show image IDs"},
                {.long_name = "no-trunc", .help = "Don't truncate output"},
                {.long_name = "format",
                 .type = FlagSpec::Type::kString,
                 .help = "Format output: 'table', 'json', '{{json .}}' or a template of {{.Field}}"}},
      .max_args = 1,
      .handler = run_images};
}

}  // namespace bocker::cli
