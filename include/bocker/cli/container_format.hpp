// What the container commands print: the `ps` table, the PORTS column, the `stats` table.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace bocker::cli {

struct PsOptions {
  bool quiet = false;     // -q: only the ids
  bool no_trunc = false;  // full ids and commands
  std::string format;     // "", "table", "json", "{{json .}}" or a {{.Field}} template
};

// Renders GET /containers/json like `docker ps`: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS,
// PORTS, NAMES. `now` is the current unix time. Throws UsageError for an unsupported --format.
std::string format_container_list(const nlohmann::json& containers, const PsOptions& opts, std::int64_t now);

// The PORTS cell of one container: "0.0.0.0:8080->80/tcp, 443/tcp".
std::string format_ports(const nlohmann::json& ports);

// One row of `docker stats` computed from a GET /containers/{id}/stats?stream=false answer.
struct StatsRow {
  std::string id, name;
  double cpu_percent = 0;
  double mem_usage = 0, mem_limit = 0, mem_percent = 0;
  double net_rx = 0, net_tx = 0, blk_read = 0, blk_write = 0;
  std::int64_t pids = 0;
};
StatsRow stats_row(const nlohmann::json& stats);
// The table: CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS.
std::string format_stats(const std::vector<StatsRow>& rows);

// docker's tabwriter layout (min width 10, padding 3); the last column is not padded.
std::string tabulate(const std::vector<std::vector<std::string>>& cells);

}  // namespace bocker::cli
