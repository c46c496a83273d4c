// bockerd's /metrics with real containers, as root: a container run with -m 64m has cAdvisor
// series read from its cgroup (memory usage > 0, the 64 MiB limit) and bocker_container_state
// running; after it exits, state exited and its exit code, no cgroup series; after rm, no series at
// all; log bytes and start latency are counted; `promtool check metrics` accepts the live output.
// On a bridge of the test's own (bkm<pid>, 10.204.<n>.0/24, table bocker_bkm<pid>; deleted in
// TearDown) a container has network series for a non-lo interface; with --network host it has none.
#include <sstream>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using registry::testing::free_port;

struct Sample {
  std::string labels;  // the text between the braces
  double value = 0;
};

// The samples of `metric` (exactly that name) whose labels contain every one of `want`
// (`name="m1"`, `state="running"`, ...).
std::vector<Sample> samples(const std::string& text, const std::string& metric,
                            const std::vector<std::string>& want = {}) {
  std::vector<Sample> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(metric + "{", 0) != 0) continue;
    auto close = line.rfind('}');
    if (close == std::string::npos) continue;
    std::string labels = line.substr(metric.size() + 1, close - metric.size() - 1);
    bool all = true;
    for (const auto& w : want) all = all && labels.find(w) != std::string::npos;
    if (!all) continue;
    out.push_back({labels, std::stod(line.substr(close + 1))});
  }
  return out;
}

// The one sample of `metric` with `want`; NaN (and a failure) when there is not exactly one.
double value(const std::string& text, const std::string& metric, const std::vector<std::string>& want) {
  auto s = samples(text, metric, want);
  if (s.size() != 1) {
    ADD_FAILURE() << s.size() << " samples of " << metric << " with the labels wanted; exposition:\n" << text;
    return std::numeric_limits<double>::quiet_NaN();
  }
  return s[0].value;
}

// An unlabelled sample (`metric value`), or the sum of the labelled ones with `want`.
double total(const std::string& text, const std::string& metric, const std::vector<std::string>& want = {}) {
  double sum = 0;
  for (const auto& s : samples(text, metric, want)) sum += s.value;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(metric + " ", 0) == 0) sum += std::stod(line.substr(metric.size() + 1));
  }
  return sum;
}

class DaemonMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(Storage::kOverlay2);
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    for (const char* tool : {"docker", "curl"}) {
      if (!have(tool)) GTEST_SKIP() << tool << " missing";
    }
    if (!fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes") &&
        !fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
      GTEST_SKIP() << "no memory cgroup (v1 memory controller or v2) on this host";
    }
  }
  void start_daemon(std::vector<std::string> args) {
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    port_ = free_port();
    args.insert(args.begin(),
                {"--storage-driver", "overlay2", "--metrics-addr", "127.0.0.1:" + std::to_string(port_)});
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock",
                                         root_->dir() + "/bockerd.log", args);
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (HasFailure() && d_) std::cerr << "bockerd log:\n" << d_->log();
    if (d_) {
      run(d_->docker("rm -f $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    if (!bridge_.empty()) {
      auto links =
          run("ip -o link show master " + bridge_ + " 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1");
      std::istringstream in(links.out);
      for (std::string l; std::getline(in, l);) {
        if (l.rfind("bk", 0) == 0) run("ip link del " + l);
      }
      run("ip link del " + bridge_ + " 2>/dev/null");
      run("nft delete table ip " + table_ + " 2>/dev/null");
    }
    root_.reset();
  }

  std::string scrape() const {
    auto r = run("curl -sf --max-time 10 http://127.0.0.1:" + std::to_string(port_) + "/metrics");
    EXPECT_EQ(r.status, 0) << r.out;
    return r.out;
  }
  CmdResult docker(const std::string& args) { return run("timeout 60 env " + d_->docker(args)); }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
  int port_ = 0;
  std::string bridge_, table_;
};

TEST_F(DaemonMetrics, ContainerSeriesFollowTheRecordFromRunToExitToRemove) {
  start_daemon({"--bridge", "none"});
  // sh as PID 1 exits 7 on SIGTERM (a trapped signal reaches PID 1).
  auto r = docker(
      "run -d --name m1 -m 64m --network none alpine sh -c "
      "'trap \"exit 7\" TERM; head -c 4m /dev/zero > /fill; while :; do sleep 0.1; done'");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = r.out.substr(0, r.out.find('\n'));
  ASSERT_EQ(id.size(), 64u) << r.out;
  const std::string name = "name=\"m1\"";

  // Until the shell has written /fill (its page cache is charged to the container's memory cgroup).
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = scrape();
    auto mem = samples(text, "container_memory_usage_bytes", {name});
    if (!mem.empty() && mem[0].value >= 4 << 20) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(value(text, "container_memory_usage_bytes", {name}), 4 << 20);
  EXPECT_GT(value(text, "container_memory_working_set_bytes", {name}), 0);
  EXPECT_EQ(value(text, "container_spec_memory_limit_bytes", {name}), 67108864);
  EXPECT_GT(value(text, "container_spec_cpu_shares", {name}), 0) << "no --cpu-shares: the default weight";
  EXPECT_GE(value(text, "container_processes", {name}), 1);
  EXPECT_GE(value(text, "container_cpu_usage_seconds_total", {name}), 0);
  EXPECT_EQ(value(text, "bocker_container_state", {name, "state=\"running\""}), 1);
  EXPECT_EQ(total(text, "bocker_container_state", {name}), 1) << "one state at a time";
  EXPECT_EQ(samples(text, "bocker_container_state", {name}).size(), 7u);
  EXPECT_EQ(value(text, "bocker_container_exit_code", {name}), 0);
  EXPECT_EQ(value(text, "bocker_container_restarts_total", {name}), 0);
  double started = value(text, "container_start_time_seconds", {name});
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(started, now - 120);
  EXPECT_LE(started, now + 1);
  // Labels: the full id and the image as given.
  EXPECT_EQ(samples(text, "bocker_container_state", {name, "id=\"" + id + "\"", "image=\"alpine\""}).size(),
            7u);
  // --network none: only lo, which is not reported.
  EXPECT_TRUE(samples(text, "container_network_receive_bytes_total", {name}).empty()) << text;
  // The start was measured.
  EXPECT_GE(total(text, "bocker_container_start_duration_seconds_count"), 1);

  // The live output passes promtool.
  registry::testing::TempDir tmp;
  registry::testing::write_text(tmp.file("metrics.txt"), text);
  if (have("promtool")) {
    auto check = run("promtool check metrics < " + tmp.file("metrics.txt"));
    EXPECT_EQ(check.status, 0) << check.out;
    EXPECT_EQ(check.out, "");
  } else {
    std::cout << "promtool missing: exposition not checked\n";
  }

  // Exit 7: state exited, the exit code, no cgroup series any more.
  auto k = docker("kill -s TERM m1");
  ASSERT_EQ(k.status, 0) << k.out;
  auto w = docker("wait m1");
  EXPECT_EQ(w.out, "7\n");
  text = scrape();
  EXPECT_EQ(value(text, "bocker_container_state", {name, "state=\"exited\""}), 1);
  EXPECT_EQ(value(text, "bocker_container_state", {name, "state=\"running\""}), 0);
  EXPECT_EQ(value(text, "bocker_container_exit_code", {name}), 7);
  EXPECT_TRUE(samples(text, "container_memory_usage_bytes", {name}).empty()) << "the cgroup is gone";
  EXPECT_EQ(value(text, "container_start_time_seconds", {name}), started);

  // Removed: its series disappear.
  auto rm = docker("rm m1");
  ASSERT_EQ(rm.status, 0) << rm.out;
  text = scrape();
  EXPECT_EQ(text.find(name), std::string::npos) << text;
  EXPECT_NE(text.find("bocker_build_info{"), std::string::npos);
}

TEST_F(DaemonMetrics, LogBytesAreCountedByStream) {
  start_daemon({"--bridge", "none"});
  std::string before = scrape();
  double out0 = total(before, "bocker_log_bytes_total", {"stream=\"stdout\""});
  double err0 = total(before, "bocker_log_bytes_total", {"stream=\"stderr\""});
  auto r = docker("run --name talk --network none alpine sh -c 'echo hello; echo oops >&2'");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string after = scrape();
  EXPECT_EQ(total(after, "bocker_log_bytes_total", {"stream=\"stdout\""}) - out0, 6) << after;
  EXPECT_EQ(total(after, "bocker_log_bytes_total", {"stream=\"stderr\""}) - err0, 5) << after;
  EXPECT_EQ(value(after, "bocker_container_state", {"name=\"talk\"", "state=\"exited\""}), 1);
}

TEST_F(DaemonMetrics, BridgeContainersHaveNetworkSeriesHostOnesNone) {
  for (const char* tool : {"ip", "nft"}) {
    if (!have(tool)) GTEST_SKIP() << tool << " missing";
  }
  bridge_ = "bkm" + std::to_string(::getpid() % 1000000);
  table_ = "bocker_" + bridge_;
  std::string subnet = "10.204." + std::to_string(1 + ::getpid() % 250) + ".0/24";
  start_daemon({"--bridge", bridge_, "--bridge-subnet", subnet, "--nft-table", table_});
  // Traffic: a TCP connection attempt to the gateway (ARP, SYN; refused or not, it leaves eth0).
  std::string gateway = subnet.substr(0, subnet.rfind('.')) + ".1";
  auto b = docker("run -d --name onbridge alpine sh -c 'wget -q -T 2 -O /dev/null http://" + gateway +
                  ":9/; sleep 3600'");
  ASSERT_EQ(b.status, 0) << b.out;
  auto h = docker("run -d --name onhost --network host alpine sleep 3600");
  ASSERT_EQ(h.status, 0) << h.out;
  std::string text;
  for (int i = 0; i < 50; ++i) {  // until the packets went out
    text = scrape();
    if (total(text, "container_network_transmit_packets_total", {"name=\"onbridge\""}) >= 2) break;
    std::this_thread::sleep_for(100ms);
  }
  auto tx = samples(text, "container_network_transmit_bytes_total", {"name=\"onbridge\""});
  ASSERT_EQ(tx.size(), 1u) << "one interface besides lo; exposition:\n" << text;
  EXPECT_EQ(tx[0].labels.find("interface=\"lo\""), std::string::npos) << tx[0].labels;
  EXPECT_NE(tx[0].labels.find("interface=\""), std::string::npos) << tx[0].labels;
  EXPECT_GT(tx[0].value, 0);
  EXPECT_GE(total(text, "container_network_transmit_packets_total", {"name=\"onbridge\""}), 2);
  for (const char* fam :
       {"container_network_receive_bytes_total", "container_network_receive_packets_total",
        "container_network_receive_errors_total", "container_network_transmit_errors_total"}) {
    EXPECT_EQ(samples(text, fam, {"name=\"onbridge\""}).size(), 1u) << fam;
  }
  // The host's interfaces are not the container's.
  EXPECT_TRUE(samples(text, "container_network_receive_bytes_total", {"name=\"onhost\""}).empty()) << text;
  EXPECT_EQ(value(text, "bocker_container_state", {"name=\"onhost\"", "state=\"running\""}), 1);
}

}  // namespace
}  // namespace bocker::daemon::testing
