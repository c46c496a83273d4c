// A /metrics scrape of N containers: a fake cgroup v1 tree (cpu+cpuacct co-mounted, memory, pids,
// blkio) and /proc/<pid>/net/dev per container on tmpfs (/dev/shm), read by the container
// collector and serialized with the rest of the registry. Target: 1000 containers in <= 100 ms.
// Also checks the real cost on this host's cgroupfs is not what dominates: see bench/README.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "../tests/metrics/fake_cgroup_tree.hpp"
#include "bocker/cgroup/cgroup.hpp"
#include "bocker/metrics/container_collector.hpp"

namespace {

using bocker::metrics::testing::FakeTree;
namespace bm = bocker::metrics;

struct Fixture {
  explicit Fixture(int n, const std::string& base) : tree(base) {
    auto mgr = bocker::cgroup::Manager::v1_at(tree.v1_controllers(), "bocker");
    for (int i = 0; i < n; ++i) {
      std::string id = std::string(64 - std::to_string(i).size(), 'a') + std::to_string(i);
      tree.add_v1("bocker", id);
      tree.add_netdev(10000 + i);
      bm::ContainerSample s;
      s.id = id;
      s.name = "c" + std::to_string(i);
      s.image = "alpine:latest";
      s.state = "running";
      s.cgroup = bm::cgroup_files(*mgr->open(id), 1);
      s.pid = 10000 + i;
      s.start_time = 1700000000;
      samples.push_back(std::move(s));
    }
    metrics.add_collector(bm::container_collector([this] { return samples; }, {tree.proc_root()}));
    bm::make_engine_metrics(metrics);
  }
  FakeTree tree;
  std::vector<bm::ContainerSample> samples;
  bm::Metrics metrics;
};

void BM_Scrape(benchmark::State& state) {
  static std::unique_ptr<Fixture> f;
  if (!f || static_cast<std::int64_t>(f->samples.size()) != state.range(0)) {
    f.reset();
    f = std::make_unique<Fixture>(static_cast<int>(state.range(0)), "/dev/shm");
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = f->metrics.serialize();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["containers"] = static_cast<double>(state.range(0));
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["per_container_us"] =
      benchmark::Counter(static_cast<double>(state.range(0)),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Scrape)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
