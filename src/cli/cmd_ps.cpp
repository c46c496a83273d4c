// bocker ps [-a -q -n N -l --no-trunc -f KEY=VALUE --format F]: GET /containers/json as docker's table.
#include <algorithm>
#include <ctime>
#include <map>

#include "bocker/cli/container_format.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

std::string quote(const std::string& s) {
  nlohmann::json j = s;
  return j.dump();
}

// docker's Ellipsis: at most `max` characters (UTF-8 code points), the last one "…".
std::string ellipsis(const std::string& s, std::size_t max) {
  std::size_t count = 0, cut = std::string::npos, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (count == max - 1) cut = i;
    ++count;
  }
  if (count <= max) return s;
  return s.substr(0, cut) + "\u2026";
}

std::string names_of(const nlohmann::json& c) {
  std::string out;
  auto it = c.find("Names");
  if (it == c.end() || !it->is_array()) return out;
  for (const auto& n : *it) {
    if (!n.is_string()) continue;
    std::string s = n.get<std::string>();
    if (!s.empty() && s.front() == '/') s.erase(0, 1);
    if (s.find('/') != std::string::npos) continue;  // a link name (/other/alias)
    out += (out.empty() ? "" : ",") + s;
  }
  return out;
}

std::string created_at(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

int run_ps(Context& ctx) {
  std::vector<std::pair<std::string, std::string>> q;
  bool all = ctx.flags.get_bool("all");
  long last = ctx.flags.get_int("last", -1);
  if (ctx.flags.get_bool("latest")) last = 1;
  if (all || last > 0) q.emplace_back("all", "1");
  if (last > 0) q.emplace_back("limit", std::to_string(last));
  if (ctx.flags.get_bool("size")) q.emplace_back("size", "1");
  auto filters = ctx.flags.get_list("filter");
  if (!filters.empty()) {
    nlohmann::json f = nlohmann::json::object();
    for (const auto& kv : filters) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw UsageError("bad format of filter (expected name=value): " + kv);
      f[kv.substr(0, eq)][kv.substr(eq + 1)] = true;
    }
    q.emplace_back("filters", f.dump());
  }
  nlohmann::json list = ctx.client().get_json("/containers/json" + build_query(q));
  if (!list.is_array()) throw Error("the daemon's answer to GET /containers/json is not a list");
  if (last > 0 && list.size() > static_cast<std::size_t>(last)) list.erase(list.begin() + last, list.end());
  PsOptions opts{.quiet = ctx.flags.get_bool("quiet"),
                 .no_trunc = ctx.flags.get_bool("no-trunc"),
                 .format = ctx.flags.get_string("format")};
  ctx.out << format_container_list(list, opts, static_cast<std::int64_t>(std::time(nullptr)));
  return 0;
}

}  // namespace

std::string tabulate(const std::vector<std::vector<std::string>>& cells) {
  if (cells.empty()) return "";
  std::vector<std::size_t> width(cells.front().size(), 0);
  auto len = [](const std::string& s) {  // display width: UTF-8 code points
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
  };
  for (const auto& r : cells) {
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], len(r[i]));
  }
  std::string out;
  for (const auto& r : cells) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(std::max<std::size_t>(10, width[i] + 3) - len(r[i]), ' ');
    }
    out += "\n";
  }
  return out;
}

std::string format_ports(const nlohmann::json& ports) {
  if (!ports.is_array()) return "";
  std::vector<std::string> items;
  for (const auto& p : ports) {
    if (!p.is_object()) continue;
    std::string priv = json_str(p, "PrivatePort") + "/" + json_str(p, "Type", "tcp");
    std::string pub = json_str(p, "PublicPort");
    if (pub.empty() || pub == "0") {
      items.push_back(priv);
      continue;
    }
    std::string ip = json_str(p, "IP");
    if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
    items.push_back(ip + ":" + pub + "->" + priv);
  }
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string format_container_list(const nlohmann::json& containers, const PsOptions& opts, std::int64_t now) {
  bool table = opts.format.empty() || opts.format == "table";
  std::vector<std::vector<std::string>> cells = {
      {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}};
  std::string out;
  for (const auto& c : containers) {
    if (!c.is_object()) continue;
    std::string id = json_str(c, "Id");
    if (!opts.no_trunc) id = id.substr(0, 12);
    if (opts.quiet) {
      out += id + "\n";
      continue;
    }
    std::string image = json_str(c, "Image");
    if (!opts.no_trunc && image.starts_with("sha256:")) image = short_image_id(image);
    std::string command = json_str(c, "Command");
    std::string command_cell = quote(opts.no_trunc ? command : ellipsis(command, 20));
    std::int64_t created = c.value("Created", std::int64_t{0});
    std::string since = human_duration(now - created) + " ago";
    std::string ports = format_ports(c.value("Ports", nlohmann::json::array()));
    std::string names = names_of(c);
    if (!table) {
      nlohmann::json labels = c.value("Labels", nlohmann::json::object());
      std::string label_text;
      if (labels.is_object()) {
        for (const auto& [k, v] : labels.items()) {
          label_text +=
              (label_text.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      nlohmann::json j = {{"Command", command_cell},
                          {"CreatedAt", created_at(created)},
                          {"ID", id},
                          {"Image", image},
                          {"Labels", label_text},
                          {"Names", names},
                          {"Ports", ports},
                          {"RunningFor", since},
                          {"State", json_str(c, "State")},
                          {"Status", json_str(c, "Status")},
                          {"Size", json_str(c, "SizeRw", "0B")},
                          {"Mounts", ""},
                          {"Networks", ""},
                          {"LocalVolumes", "0"}};
      print_formatted(opts.format == "{{json .}}" ? "json" : opts.format, j, out);
      continue;
    }
    cells.push_back({id, image, command_cell, since, json_str(c, "Status"), ports, names});
  }
  if (opts.quiet || !table) return out;
  return tabulate(cells);
}

Command ps_command() {
  using Type = FlagSpec::Type;
  return Command{
      .name = "ps",
      .summary = "List containers",
      .usage = "[OPTIONS]",
      .flags = {{.short_name = 'a',
                 .long_name = "all",
                 .help = "Show all containers (default shows just running)"},
                {.short_name = 'f',
                 .long_name = "filter",
                 .type = Type::kList,
                 .help = "Filter output based on conditions provided"},
                {.long_name = "format",
                 .type = Type::kString,
                 .help = "Format output: 'table', 'json', '{{json .}}' or a template of {{.Field}}"},
                {.short_name = 'n',
                 .long_name = "last",
                 .type = Type::kInt,
                 .help = "Show n last created containers (includes all states)",
                 .default_value = "-1"},
                {.short_name = 'l',
                 .long_name = "latest",
                 .help = "Show the latest created container (includes all states)"},
                {.long_name = "no-trunc", .help = "Don't truncate output"},
                {.short_name = 'q', .long_name = "quiet", .help = "Only display container IDs"},
                {.short_name = 's', .long_name = "size", .help = "Display total file sizes"}},
      .max_args = 0,
      .handler = run_ps};
}

}  // namespace bocker::cli
