// Runtime micro-benchmarks: task spawn+resume, ring round trips, timers, offload.
#include <benchmark/benchmark.h>

#include <chrono>

#include "bocker/runtime/runtime.hpp"

namespace rt = bocker::rt;
using namespace std::chrono_literals;

namespace {

rt::Task<int> leaf(int v) { co_return v + 1; }

// Create a task, await it (resume + symmetric transfer back): the cost of one co_await of a Task.
void BM_TaskAwait(benchmark::State& state) {
  rt::Loop loop;
  for (auto _ : state) {
    auto body = [](benchmark::State& st) -> rt::Task<long> {
      long sum = 0;
      for (int i = 0; i < 1000; ++i) sum += co_await leaf(i);
      (void)st;
      co_return sum;
    };
    benchmark::DoNotOptimize(loop.run(body(state)));
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_TaskAwait);

// Spawn N detached tasks that each suspend on the ring once (NOP) and finish: spawn + resume rate.
void BM_SpawnResume(benchmark::State& state) {
  rt::Loop loop({.entries = 4096, .workers = 1});
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto body = [](int count) -> rt::Task<void> {
      rt::TaskScope scope;
      for (int i = 0; i < count; ++i) {
        scope.spawn([]() -> rt::Task<void> { co_await rt::nop(); }());
      }
      co_await scope.join();
    };
    loop.run(body(n));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_SpawnResume)->Arg(1000)->Arg(100000);

// Zero-length timers: timer arm + expiry + resume.
void BM_Timer(benchmark::State& state) {
  rt::Loop loop;
  for (auto _ : state) {
    auto body = []() -> rt::Task<void> {
      for (int i = 0; i < 100; ++i) co_await rt::sleep_for(0ns);
    };
    loop.run(body());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_Timer);

// Offload round trip: loop -> worker -> loop.
void BM_Offload(benchmark::State& state) {
  rt::Loop loop;
  for (auto _ : state) {
    auto body = []() -> rt::Task<int> {
      int s = 0;
      for (int i = 0; i < 100; ++i) s += co_await rt::offload([i] { return i; });
      co_return s;
    };
    benchmark::DoNotOptimize(loop.run(body()));
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_Offload);

}  // namespace

BENCHMARK_MAIN();
