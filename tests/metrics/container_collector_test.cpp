// The container collector against fake cgroup v1 and v2 trees (known values), against a real
// cgroup v1/v2 on this host (root only), series disappearing with their container, the engine
// metrics, and `promtool check metrics` on the whole exposition.
#include "bocker/metrics/container_collector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <sstream>
#include <thread>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/runtime.hpp"
#include "fake_cgroup_tree.hpp"

namespace bocker::metrics {
namespace {

using testing::FakeTree;
using testing::FakeValues;
using namespace std::chrono_literals;

// The value of the first sample of `name` whose line contains every string in `has`.
std::optional<double> value(const std::string& text, const std::string& name,
                            const std::vector<std::string>& has = {}) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool all = true;
    for (const auto& h : has) all = all && line.find(h) != std::string::npos;
    if (!all) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::string serialize(const prometheus::Collectable& c) {
  return prometheus::TextSerializer().Serialize(c.Collect());
}

ContainerSample sample(std::string id, std::string name, std::shared_ptr<const CgroupFiles> files,
                       pid_t pid) {
  ContainerSample s;
  s.id = std::move(id);
  s.name = std::move(name);
  s.image = "alpine:latest";
  s.state = "running";
  s.cgroup = std::move(files);
  s.pid = pid;
  s.start_time = 1700000000.5;
  s.restarts = 1;
  s.exit_code = 137;
  return s;
}

void expect_fake_values(const std::string& text, const std::string& id, double shares) {
  std::vector<std::string> l = {"id=\"" + id + "\"", "name=\"web\"", "image=\"alpine:latest\""};
  EXPECT_EQ(value(text, "container_cpu_usage_seconds_total", l), FakeValues::kCpuSeconds) << text;
  EXPECT_EQ(value(text, "container_cpu_user_seconds_total", l), FakeValues::kUserSeconds);
  EXPECT_EQ(value(text, "container_cpu_system_seconds_total", l), FakeValues::kSystemSeconds);
  EXPECT_EQ(value(text, "container_memory_usage_bytes", l), FakeValues::kMemUsage);
  EXPECT_EQ(value(text, "container_memory_working_set_bytes", l), FakeValues::kWorkingSet);
  EXPECT_EQ(value(text, "container_memory_rss", l), FakeValues::kRss);
  EXPECT_EQ(value(text, "container_memory_cache", l), FakeValues::kCache);
  EXPECT_EQ(value(text, "container_spec_memory_limit_bytes", l), FakeValues::kLimit);
  EXPECT_EQ(value(text, "container_spec_cpu_shares", l), shares);
  EXPECT_EQ(value(text, "container_oom_events_total", l), FakeValues::kOom);
  EXPECT_EQ(value(text, "container_processes", l), FakeValues::kProcesses);
  EXPECT_EQ(value(text, "container_fs_reads_bytes_total", l), FakeValues::kReads);
  EXPECT_EQ(value(text, "container_fs_writes_bytes_total", l), FakeValues::kWrites);
  auto eth0 = l;
  eth0.push_back("interface=\"eth0\"");
  EXPECT_EQ(value(text, "container_network_receive_bytes_total", eth0), FakeValues::kRxBytes);
  EXPECT_EQ(value(text, "container_network_receive_packets_total", eth0), FakeValues::kRxPackets);
  EXPECT_EQ(value(text, "container_network_receive_errors_total", eth0), FakeValues::kRxErrors);
  EXPECT_EQ(value(text, "container_network_transmit_bytes_total", eth0), FakeValues::kTxBytes);
  EXPECT_EQ(value(text, "container_network_transmit_packets_total", eth0), FakeValues::kTxPackets);
  EXPECT_EQ(value(text, "container_network_transmit_errors_total", eth0), FakeValues::kTxErrors);
  EXPECT_EQ(count_lines_with(text, "interface=\"lo\""), 0u) << "loopback is not reported";
  EXPECT_EQ(value(text, "container_start_time_seconds", l), 1700000000.5);
  EXPECT_EQ(value(text, "container_last_seen", l), 1700000100);
  EXPECT_EQ(value(text, "bocker_container_restarts_total", l), 1);
  EXPECT_EQ(value(text, "bocker_container_exit_code", l), 137);
  for (std::string_view st : kContainerStates) {
    auto ls = l;
    ls.push_back("state=\"" + std::string(st) + "\"");
    EXPECT_EQ(value(text, "bocker_container_state", ls), st == "running" ? 1 : 0) << st;
  }
}

TEST(ContainerCollector, ReadsFakeCgroupV1Tree) {
  FakeTree tree;
  tree.add_v1("bocker", "c1");
  tree.add_netdev(4242);
  auto m = cgroup::Manager::v1_at(tree.v1_controllers(), "bocker");
  auto files = cgroup_files(*m->open("c1"), 1);
  EXPECT_EQ(files->version, 1);
  EXPECT_THAT(files->files, ::testing::Contains(tree.root().string() + "/cpu,cpuacct/bocker/c1/cpu.shares"));
  auto c = container_collector([&] { return std::vector<ContainerSample>{sample("c1", "web", files, 4242)}; },
                               {tree.proc_root(), [] { return 1700000100.0; }});
  expect_fake_values(serialize(*c), "c1", FakeValues::kShares);
}

// cgroup v2 is not mounted on this host (v1 hybrid): v2 is tested against a fake directory tree.
TEST(ContainerCollector, ReadsFakeCgroupV2Tree) {
  FakeTree tree;
  tree.add_v2("bocker", "c2");
  tree.add_netdev(4243);
  auto m = cgroup::Manager::v2_at(tree.v2_root(), "bocker");
  auto files = cgroup_files(*m->open("c2"), 2);
  EXPECT_THAT(files->files, ::testing::Contains(tree.v2_root() + "/bocker/c2/cpu.weight"));
  auto c = container_collector([&] { return std::vector<ContainerSample>{sample("c2", "web", files, 4243)}; },
                               {tree.proc_root(), [] { return 1700000100.0; }});
  expect_fake_values(serialize(*c), "c2", 500);  // weight 20 maps back to 500 shares
}

TEST(ContainerCollector, SeriesOfRemovedContainersDisappear) {
  FakeTree tree;
  tree.add_v1("bocker", "a");
  tree.add_v1("bocker", "b");
  auto m = cgroup::Manager::v1_at(tree.v1_controllers(), "bocker");
  std::vector<ContainerSample> now = {sample("a", "web", cgroup_files(*m->open("a"), 1), 0),
                                      sample("b", "db", cgroup_files(*m->open("b"), 1), 0)};
  auto c = container_collector([&] { return now; }, {tree.proc_root()});
  std::string both = serialize(*c);
  EXPECT_EQ(count_lines_with(both, "id=\"b\""), count_lines_with(both, "id=\"a\""));
  EXPECT_GT(count_lines_with(both, "id=\"b\""), 20u);
  now.pop_back();
  std::string one = serialize(*c);
  EXPECT_EQ(count_lines_with(one, "id=\"b\""), 0u) << one;
  EXPECT_EQ(count_lines_with(one, "id=\"a\""), count_lines_with(both, "id=\"a\""));
}

TEST(ContainerCollector, GoneCgroupLeavesOnlyStateSeries) {
  FakeTree tree;
  tree.add_v1("bocker", "gone");
  auto m = cgroup::Manager::v1_at(tree.v1_controllers(), "bocker");
  auto files = cgroup_files(*m->open("gone"), 1);
  for (const auto& [ctl, dir] : tree.v1_controllers()) std::filesystem::remove_all(dir + "/bocker/gone");
  auto s = sample("gone", "web", files, 999999);  // no such process either
  s.state = "exited";
  s.oom_events = 5;
  auto c = container_collector([&] { return std::vector<ContainerSample>{s}; }, {tree.proc_root()});
  std::string text = serialize(*c);
  EXPECT_EQ(value(text, "container_cpu_usage_seconds_total"), std::nullopt) << text;
  EXPECT_EQ(value(text, "container_network_receive_bytes_total"), std::nullopt);
  EXPECT_EQ(value(text, "bocker_container_state", {"state=\"exited\""}), 1);
  EXPECT_EQ(value(text, "bocker_container_exit_code"), 137);
}

TEST(ContainerCollector, HostNetworkContainerHasNoNetworkSeries) {
  FakeTree tree;
  tree.add_netdev(77);
  auto s = sample("h", "host", nullptr, 77);
  s.own_netns = false;
  auto c = container_collector([&] { return std::vector<ContainerSample>{s}; }, {tree.proc_root()});
  std::string text = serialize(*c);
  EXPECT_EQ(value(text, "container_network_receive_bytes_total"), std::nullopt) << text;
  EXPECT_EQ(value(text, "container_cpu_usage_seconds_total"), std::nullopt) << "no cgroup, no cgroup series";
  EXPECT_EQ(value(text, "bocker_container_state", {"id=\"h\"", "state=\"running\""}), 1);
}

// A real cgroup on this host (v1 hybrid here) with a busy child process in it.
TEST(ContainerCollector, ReadsRealCgroupOfBusyProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  std::string parent = "bocker-mtest-" + std::to_string(::getpid());
  auto mgr = cgroup::Manager::detect(parent);
  auto cg = mgr->create("busy");
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Memory is charged to the cgroup a page is touched in: wait until we have been moved.
    char go;
    ::close(gate[1]);
    if (::read(gate[0], &go, 1) != 1) ::_exit(1);
    std::vector<char> mem(32 << 20, 1);
    volatile unsigned long sink = 0;
    for (unsigned long i = 0;; ++i) sink = sink + static_cast<unsigned long>(mem[i % mem.size()]);
  }
  struct Cleanup {
    pid_t pid;
    cgroup::Cgroup& cg;
    cgroup::Manager& mgr;
    std::string parent;
    ~Cleanup() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      try {
        cg.remove();
      } catch (...) {
      }
      for (auto& d : cg.dirs()) ::rmdir(d.substr(0, d.rfind('/')).c_str());  // the test parent
    }
  } cleanup{child, *cg, *mgr, parent};
  ::close(gate[0]);
  cg->add_process(child);
  ASSERT_EQ(::write(gate[1], "g", 1), 1);
  ::close(gate[1]);
  std::this_thread::sleep_for(400ms);
  auto files = cgroup_files(*cg, mgr->version());
  auto c = container_collector(
      [&] { return std::vector<ContainerSample>{sample("busy", "busy", files, ::getpid())}; });
  std::string text = serialize(*c);
  EXPECT_GT(value(text, "container_cpu_usage_seconds_total").value_or(0), 0.1) << text;
  EXPECT_GT(value(text, "container_memory_usage_bytes").value_or(0), 30 << 20) << text;
  EXPECT_GT(value(text, "container_memory_rss").value_or(0), 30 << 20) << text;
  EXPECT_EQ(value(text, "container_processes"), 1) << text;
  EXPECT_GT(value(text, "container_spec_cpu_shares").value_or(0), 0) << text;
  // Our own netns (the host's) has at least one interface besides lo.
  EXPECT_TRUE(value(text, "container_network_receive_bytes_total").has_value()) << text;
}

TEST(EngineMetrics, ObservationsSerialize) {
  Metrics m;
  EngineMetrics e = make_engine_metrics(m);
  e.observe_pull("127.0.0.1:5000", 1.2, 4096);
  e.observe_pull("127.0.0.1:5000", 0.3, 100);
  e.layer_download_bytes->Increment(4196);
  e.layer_extract_bytes->Increment(9000);
  e.container_start->Observe(0.04);
  e.observe_log("stdout", 10);
  e.observe_log("stderr", 3);
  std::string text = m.serialize();
  EXPECT_EQ(value(text, "bocker_image_pull_duration_seconds_count", {"registry=\"127.0.0.1:5000\""}), 2)
      << text;
  EXPECT_EQ(value(text, "bocker_image_pull_bytes_total", {"registry=\"127.0.0.1:5000\""}), 4196);
  EXPECT_EQ(value(text, "bocker_layer_download_bytes_total"), 4196);
  EXPECT_EQ(value(text, "bocker_layer_extract_bytes_total"), 9000);
  EXPECT_EQ(value(text, "bocker_container_start_duration_seconds_bucket", {"le=\"0.05\""}), 1);
  EXPECT_EQ(value(text, "bocker_log_bytes_total", {"stream=\"stdout\""}), 10);
  EXPECT_EQ(value(text, "bocker_log_bytes_total", {"stream=\"stderr\""}), 3);
}

// Every family the daemon exposes, with samples, through `promtool check metrics`.
TEST(Promtool, CheckMetricsIsClean) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  FakeTree tree;
  tree.add_v1("bocker", "c1");
  tree.add_v2("bocker", "c2");
  tree.add_netdev(11);
  auto m1 = cgroup::Manager::v1_at(tree.v1_controllers(), "bocker");
  auto m2 = cgroup::Manager::v2_at(tree.v2_root(), "bocker");
  std::vector<ContainerSample> cs = {sample("c1", "web", cgroup_files(*m1->open("c1"), 1), 11),
                                     sample("c2", "db", cgroup_files(*m2->open("c2"), 2), 11)};
  rt::Loop loop;
  loop.run([]() -> rt::Task<void> { co_await rt::nop(); }());
  Metrics m;
  m.add_collector(runtime_collector(loop));
  m.add_collector(container_collector([&] { return cs; }, {tree.proc_root()}));
  EngineMetrics e = make_engine_metrics(m);
  e.observe_pull("docker.io", 3, 1000);
  e.container_start->Observe(0.1);
  m.observe_http("/containers/{id}/json", "GET", 200, 1ms);
  std::string path = tree.root().string() + "/metrics.txt";
  testing::put_file(path, m.serialize());
  std::string out;
  FILE* p = ::popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace bocker::metrics
