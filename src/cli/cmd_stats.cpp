// bocker stats [-a --no-stream --no-trunc] [CONTAINER...]: GET /containers/{id}/stats?stream=false
// per container, as docker's table; without --no-stream the table is redrawn every second.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "bocker/cli/container_format.hpp"
#include "bocker/cli/format.hpp"
#include "bocker/cli/image_format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

double num(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return 0;
    cur = &(*cur)[k];
  }
  return cur->is_number() ? cur->get<double>() : 0;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", v);
  return buf;
}

std::vector<StatsRow> sample(Context& ctx, const std::vector<std::string>& names, bool no_trunc,
                             bool& failed) {
  std::vector<StatsRow> rows;
  for (const auto& n : names) {
    Response r = ctx.client().get("/containers/" + url_encode(n) + "/stats?stream=false");
    if (!r.ok()) {
      ctx.err << "Error response from daemon: " << r.error_message() << "\n";
      failed = true;
      continue;
    }
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded())
      throw Error("invalid JSON in the daemon's answer to GET /containers/" + n + "/stats");
    StatsRow row = stats_row(j);
    if (row.id.empty()) row.id = n;
    if (!no_trunc) row.id = row.id.substr(0, 12);
    rows.push_back(std::move(row));
  }
  return rows;
}

int run_stats(Context& ctx) {
  std::vector<std::string> names = ctx.args;
  if (names.empty()) {
    nlohmann::json list =
        ctx.client().get_json(ctx.flags.get_bool("all") ? "/containers/json?all=1" : "/containers/json");
    for (const auto& c : list) names.push_back(json_str(c, "Id"));
  }
  bool no_trunc = ctx.flags.get_bool("no-trunc");
  bool failed = false;
  if (ctx.flags.get_bool("no-stream")) {
    ctx.out << format_stats(sample(ctx, names, no_trunc, failed));
    return failed ? 1 : 0;
  }
  for (;;) {  // until interrupted, or every container is gone
    failed = false;
    auto rows = sample(ctx, names, no_trunc, failed);
    ctx.out << "\033[2J\033[H" << format_stats(rows) << std::flush;
    if (rows.empty() && failed) return 1;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

StatsRow stats_row(const nlohmann::json& s) {
  StatsRow row;
  row.id = json_str(s, "id");
  row.name = json_str(s, "name");
  if (!row.name.empty() && row.name.front() == '/') row.name.erase(0, 1);
  double cpu_delta = num(s, {"cpu_stats", "cpu_usage", "total_usage"}) -
                     num(s, {"precpu_stats", "cpu_usage", "total_usage"});
  double sys_delta = num(s, {"cpu_stats", "system_cpu_usage"}) - num(s, {"precpu_stats", "system_cpu_usage"});
  double cpus = num(s, {"cpu_stats", "online_cpus"});
  if (cpus == 0 && s.contains("cpu_stats") && s["cpu_stats"].contains("cpu_usage")) {
    const auto& per = s["cpu_stats"]["cpu_usage"];
    if (per.contains("percpu_usage") && per["percpu_usage"].is_array())
      cpus = static_cast<double>(per["percpu_usage"].size());
  }
  if (cpu_delta > 0 && sys_delta > 0) row.cpu_percent = cpu_delta / sys_delta * cpus * 100.0;
  // Memory as docker counts it: usage less the inactive page cache (v1 total_inactive_file, v2
  // inactive_file).
  double usage = num(s, {"memory_stats", "usage"});
  double cache = num(s, {"memory_stats", "stats", "total_inactive_file"});
  if (cache == 0) cache = num(s, {"memory_stats", "stats", "inactive_file"});
  row.mem_usage = cache < usage ? usage - cache : usage;
  row.mem_limit = num(s, {"memory_stats", "limit"});
  if (row.mem_limit > 0) row.mem_percent = row.mem_usage / row.mem_limit * 100.0;
  if (s.contains("networks") && s["networks"].is_object()) {
    for (const auto& [name, n] : s["networks"].items()) {
      row.net_rx += num(n, {"rx_bytes"});
      row.net_tx += num(n, {"tx_bytes"});
    }
  }
  if (s.contains("blkio_stats") && s["blkio_stats"].is_object()) {
    auto it = s["blkio_stats"].find("io_service_bytes_recursive");
    if (it != s["blkio_stats"].end() && it->is_array()) {
      for (const auto& e : *it) {
        std::string op = json_str(e, "op");
        for (auto& ch : op) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (op == "read") row.blk_read += num(e, {"value"});
        if (op == "write") row.blk_write += num(e, {"value"});
      }
    }
  }
  row.pids = static_cast<std::int64_t>(num(s, {"pids_stats", "current"}));
  return row;
}

std::string format_stats(const std::vector<StatsRow>& rows) {
  std::vector<std::vector<std::string>> cells = {
      {"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"}};
  for (const auto& r : rows) {
    cells.push_back({r.id, r.name.empty() ? "--" : r.name, percent(r.cpu_percent),
                     human_bytes(r.mem_usage) + " / " + human_bytes(r.mem_limit), percent(r.mem_percent),
                     image_size(r.net_rx) + " / " + image_size(r.net_tx),
                     image_size(r.blk_read) + " / " + image_size(r.blk_write), std::to_string(r.pids)});
  }
  return tabulate(cells);
}

Command stats_command() {
  return Command{
      .name = "stats",
      .summary = "Display a live stream of container(s) resource usage statistics",
      .usage = "[OPTIONS] [CONTAINER...]",
      .flags = {{.short_name = 'a',
                 .long_name = "all",
                 .help = "Show all containers (default shows just running)"},
                {.long_name = "no-stream", .help = "Disable streaming stats and only pull the first result"},
                {.long_name = "no-trunc", .help = "Do not truncate output"}},
      .handler = run_stats};
}

}  // namespace bocker::cli
