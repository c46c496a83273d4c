#include "bocker/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include "bocker/runtime/runtime.hpp"

namespace rt = bocker::rt;

TEST(Metrics, RuntimeAndHttpFamiliesSerialize) {
  rt::Loop loop;
  loop.run([]() -> rt::Task<void> {
    co_await rt::nop();
    co_await rt::offload([] { return 1; });
  }());
  bocker::metrics::Metrics m;
  m.add_collector(bocker::metrics::runtime_collector(loop));
  m.observe_http("/_ping", "GET", 200, std::chrono::microseconds(50));
  m.observe_http("/_ping", "GET", 200, std::chrono::microseconds(70));
  std::string text = m.serialize();
  EXPECT_NE(text.find("# TYPE bocker_loop_iterations_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("bocker_http_requests_total{code=\"200\",method=\"GET\",route=\"/_ping\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE bocker_event_loop_lag_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("bocker_event_loop_lag_seconds_bucket{le=\"+Inf\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("bocker_build_info{"), std::string::npos);
  EXPECT_NE(text.find("bocker_worker_pool_threads 2"), std::string::npos) << text;
}
