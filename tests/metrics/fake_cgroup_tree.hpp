// Fake cgroup v1/v2 trees and /proc/<pid>/net/dev files with known values, for the container
// collector's tests and the scrape benchmark. The directory is removed by the destructor.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace bocker::metrics::testing {

namespace fs = std::filesystem;

inline void put_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::trunc);
  out << content;
  if (!out.good()) throw std::runtime_error("cannot write " + p.string());
}

// The values every fake container has (v1 cpuacct.stat is in USER_HZ ticks: 150 and 50).
struct FakeValues {
  static constexpr double kCpuSeconds = 2.5, kUserSeconds = 1.5, kSystemSeconds = 0.5;
  static constexpr double kMemUsage = 104857600, kWorkingSet = 100000000, kRss = 52428800, kCache = 20971520;
  static constexpr double kLimit = 536870912, kShares = 512, kOom = 2, kProcesses = 3;
  static constexpr double kReads = 4096 + 100, kWrites = 8192 + 200;
  static constexpr double kRxBytes = 1000, kRxPackets = 10, kRxErrors = 1, kTxBytes = 2000, kTxPackets = 20,
                          kTxErrors = 2;
};

class FakeTree {
 public:
  // `base` is a directory to create the tree in (e.g. /tmp, or /dev/shm for tmpfs).
  explicit FakeTree(const std::string& base = "/tmp") {
    std::string tmpl = base + "/bocker-fakecg-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl);
    root_ = tmpl;
    fs::create_directories(proc_root());
  }
  ~FakeTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  fs::path root() const { return root_; }
  std::string proc_root() const { return (root_ / "proc").string(); }
  std::string v2_root() const { return (root_ / "unified").string(); }
  // cpu and cpuacct co-mounted like on Debian/systemd hosts; memory, pids, blkio separate.
  std::map<std::string, std::string> v1_controllers() const {
    std::string cpu = (root_ / "cpu,cpuacct").string();
    return {{"cpu", cpu},
            {"cpuacct", cpu},
            {"memory", (root_ / "memory").string()},
            {"pids", (root_ / "pids").string()},
            {"blkio", (root_ / "blkio").string()}};
  }

  void add_v1(const std::string& parent, const std::string& id) {
    fs::path cpu = root_ / "cpu,cpuacct" / parent / id;
    fs::path mem = root_ / "memory" / parent / id;
    fs::path pids = root_ / "pids" / parent / id;
    fs::path blkio = root_ / "blkio" / parent / id;
    for (const auto& d : {cpu, mem, pids, blkio}) fs::create_directories(d);
    put_file(cpu / "cpuacct.usage", "2500000000\n");
    put_file(cpu / "cpuacct.stat", "user 150\nsystem 50\n");
    put_file(cpu / "cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n");
    put_file(cpu / "cpu.shares", "512\n");
    put_file(mem / "memory.usage_in_bytes", "104857600\n");
    put_file(mem / "memory.limit_in_bytes", "536870912\n");
    put_file(mem / "memory.stat",
             "cache 1\nrss 2\nmapped_file 0\ninactive_file 3\nhierarchical_memory_limit 536870912\n"
             "total_cache 20971520\ntotal_rss 52428800\ntotal_mapped_file 0\ntotal_inactive_file 4857600\n"
             "total_active_file 0\ntotal_inactive_anon 0\ntotal_active_anon 52428800\ntotal_unevictable 0\n");
    put_file(mem / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    put_file(pids / "pids.current", "3\n");
    put_file(pids / "pids.max", "max\n");
    put_file(blkio / "blkio.throttle.io_service_bytes",
             "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n"
             "8:16 Read 100\n8:16 Write 200\n8:16 Total 300\nTotal 12588\n");
  }

  void add_v2(const std::string& parent, const std::string& id) {
    fs::path d = fs::path(v2_root()) / parent / id;
    fs::create_directories(d);
    put_file(d / "cpu.stat",
             "usage_usec 2500000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 0\nnr_throttled 0\n"
             "throttled_usec 0\n");
    put_file(d / "cpu.weight",
             "20\n");  // shares_to_weight(512) = 20; back to shares: 2 + 19*262142/9999 = 500
    put_file(d / "memory.current", "104857600\n");
    put_file(d / "memory.max", "536870912\n");
    put_file(d / "memory.stat",
             "anon 52428800\nfile 20971520\nkernel 0\ninactive_file 4857600\nactive_file 0\n");
    put_file(d / "memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n");
    put_file(d / "pids.current", "3\n");
    put_file(d / "pids.max", "max\n");
    put_file(d / "io.stat",
             "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
             "8:16 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n");
  }

  void add_netdev(int pid) {
    fs::path d = fs::path(proc_root()) / std::to_string(pid) / "net";
    fs::create_directories(d);
    put_file(
        d / "dev",
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo "
        "colls carrier compressed\n"
        "    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0  "
        "   0       0          0\n"
        "  eth0:    1000      10    1    0    0     0          0         0     2000      20    2    0    0  "
        "   0       0          0\n");
  }

 private:
  fs::path root_;
};

}  // namespace bocker::metrics::testing
