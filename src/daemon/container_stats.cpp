// `docker stats`: Docker's stats JSON from the container's cgroup, the host's /proc/stat (the
// system CPU time the CLI divides by) and the container's /proc/<pid>/net/dev. stream=false
// answers with two samples a second apart (cpu_stats and precpu_stats, as dockerd does unless
// one-shot); stream=true sends one document per second until the container stops.
#include <unistd.h>

#include <chrono>
#include <sstream>

#include "bocker/daemon/container_service.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

namespace {

struct NetDev {
  std::uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  std::uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

struct Sample {
  bool valid = false;  // false: the container is not running (zeros, like docker)
  std::int64_t read_ns = 0;
  cgroup::Stats cg;
  std::uint64_t system_ns = 0;
  unsigned online_cpus = 0;
  std::uint64_t host_memory = 0;
  std::map<std::string, NetDev> net;
};

// The "cpu" line of /proc/stat: user nice system idle iowait irq softirq (steal...) in USER_HZ.
std::uint64_t system_cpu_ns() {
  std::istringstream in(read_file("/proc/stat"));
  std::string label;
  in >> label;
  if (label != "cpu") return 0;
  std::uint64_t total = 0, v = 0;
  for (int i = 0; i < 7 && (in >> v); ++i) total += v;
  long hz = ::sysconf(_SC_CLK_TCK);
  return total * (1'000'000'000ULL / static_cast<std::uint64_t>(hz > 0 ? hz : 100));
}

std::uint64_t host_memory_bytes() {
  std::istringstream in(read_file("/proc/meminfo"));
  std::string key;
  std::uint64_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") return kb * 1024;
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

std::map<std::string, NetDev> net_dev(pid_t pid) {
  std::map<std::string, NetDev> out;
  std::string text;
  try {
    text = read_file("/proc/" + std::to_string(pid) + "/net/dev");
  } catch (const std::exception&) {
    return out;  // the process is gone
  }
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // two header lines
  std::getline(in, line);
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::istringstream f(line.substr(colon + 1));
    std::uint64_t v[16] = {};
    for (auto& x : v) f >> x;
    NetDev d;
    d.rx_bytes = v[0], d.rx_packets = v[1], d.rx_errors = v[2], d.rx_dropped = v[3];
    d.tx_bytes = v[8], d.tx_packets = v[9], d.tx_errors = v[10], d.tx_dropped = v[11];
    out[name] = d;
  }
  return out;
}

json cpu_json(const Sample& s) {
  return {{"cpu_usage",
           {{"total_usage", s.cg.cpu_usage_ns},
            {"usage_in_kernelmode", s.cg.cpu_system_ns},
            {"usage_in_usermode", s.cg.cpu_user_ns}}},
          {"system_cpu_usage", s.system_ns},
          {"online_cpus", s.online_cpus},
          {"throttling_data",
           {{"periods", s.cg.cpu_periods},
            {"throttled_periods", s.cg.cpu_throttled_periods},
            {"throttled_time", s.cg.cpu_throttled_ns}}}};
}

json stats_json(const Container& c, const Sample& cur, const Sample& pre) {
  std::uint64_t limit = cur.cg.memory_limit;
  if (limit == 0 || (cur.host_memory != 0 && limit > cur.host_memory)) limit = cur.host_memory;
  json networks = json::object();
  for (const auto& [name, d] : cur.net) {
    networks[name] = {{"rx_bytes", d.rx_bytes},     {"rx_packets", d.rx_packets}, {"rx_errors", d.rx_errors},
                      {"rx_dropped", d.rx_dropped}, {"tx_bytes", d.tx_bytes},     {"tx_packets", d.tx_packets},
                      {"tx_errors", d.tx_errors},   {"tx_dropped", d.tx_dropped}};
  }
  json io = json::array();
  if (cur.valid) {
    io.push_back({{"major", 0}, {"minor", 0}, {"op", "read"}, {"value", cur.cg.io_read_bytes}});
    io.push_back({{"major", 0}, {"minor", 0}, {"op", "write"}, {"value", cur.cg.io_write_bytes}});
  }
  json pids = {{"current", cur.cg.pids_current}};
  if (cur.cg.pids_limit != 0) pids["limit"] = cur.cg.pids_limit;
  json out = {
      {"read", rfc3339_nano(cur.read_ns)},
      {"preread", rfc3339_nano(pre.read_ns)},
      {"pids_stats", pids},
      {"blkio_stats",
       {{"io_service_bytes_recursive", io},
        {"io_serviced_recursive", nullptr},
        {"io_queue_recursive", nullptr},
        {"io_service_time_recursive", nullptr},
        {"io_wait_time_recursive", nullptr},
        {"io_merged_recursive", nullptr},
        {"io_time_recursive", nullptr},
        {"sectors_recursive", nullptr}}},
      {"num_procs", 0},
      {"storage_stats", json::object()},
      {"cpu_stats", cpu_json(cur)},
      {"precpu_stats", cpu_json(pre)},
      {"memory_stats",
       cur.valid ? json{{"usage", cur.cg.memory_usage},
                        {"limit", limit},
                        {"stats",
                         {{"cache", cur.cg.memory_cache},
                          {"rss", cur.cg.memory_rss},
                          {"inactive_file", cur.cg.inactive_file},
                          {"total_inactive_file", cur.cg.inactive_file},
                          {"total_cache", cur.cg.memory_cache},
                          {"total_rss", cur.cg.memory_rss}}}}
                 : json::object()},
      {"name", "/" + c.name},
      {"id", c.id},
  };
  if (cur.valid) out["networks"] = networks;
  return out;
}

}  // namespace

rt::Task<void> ContainerService::stats(std::string name, bool stream, bool one_shot, http::ResponseWriter& w) {
  Container& found = find(name);
  const std::string id = found.id;
  cgroup::Manager* mgr = cgroups_.get();
  // A sample of the container, looked up again each time (it may be gone after an await). The
  // cgroup is opened afresh on the worker: the container's own Cgroup object may be freed meanwhile.
  auto sample = [](ContainerService& self, const std::string& cid, cgroup::Manager* m) -> rt::Task<Sample> {
    Sample s;
    auto it = self.by_id_.find(cid);
    if (it == self.by_id_.end() || !it->second->running() || m == nullptr) co_return s;
    pid_t pid = it->second->pid;
    co_await rt::offload([&s, &cid, m, pid] {
      try {
        s.cg = m->open(cid)->stats();
      } catch (const Error& e) {
        if (e.kind() != Error::Kind::kNotFound) throw;
        return;  // stopped meanwhile
      }
      s.valid = true;
      s.read_ns = now_ns();
      s.system_ns = system_cpu_ns();
      long n = ::sysconf(_SC_NPROCESSORS_ONLN);
      s.online_cpus = n > 0 ? static_cast<unsigned>(n) : 1;
      s.host_memory = host_memory_bytes();
      if (pid > 0) s.net = net_dev(pid);
    });
    co_return s;
  };
  auto doc = [](ContainerService& self, const std::string& cid, const Sample& cur, const Sample& pre) -> std::string {
    auto it = self.by_id_.find(cid);
    if (it == self.by_id_.end()) return {};
    return stats_json(*it->second, cur, pre).dump() + "\n";
  };

  http::Headers h;
  h.add("Content-Type", "application/json");
  if (!stream) {
    Sample pre;
    if (!one_shot) {
      pre = co_await sample(*this, id, mgr);
      if (pre.valid) co_await rt::sleep_for(std::chrono::seconds(1));
    }
    Sample cur = co_await sample(*this, id, mgr);
    if (!cur.valid) pre = Sample{};
    std::string body = doc(*this, id, cur, pre);
    if (body.empty()) throw not_found("No such container: " + name);
    co_await w.send(http::Response::json(200, json::parse(body)));
    co_return;
  }
  co_await w.begin_stream(200, std::move(h));
  Sample pre;
  try {
    for (;;) {
      Sample cur = co_await sample(*this, id, mgr);
      std::string body = doc(*this, id, cur, pre);
      if (body.empty()) break;
      co_await w.write(body);
      if (!cur.valid) break;  // stopped: one document of zeros, then the end
      pre = cur;
      co_await rt::sleep_for(std::chrono::seconds(1));
    }
  } catch (const std::exception&) {
    co_return;  // the client went away
  }
  co_await w.end();
}

}  // namespace bocker::daemon
