// The daemon's Prometheus metrics: a prometheus-cpp core registry for counters and
// histograms updated as things happen, plus collectors that read values at scrape time
// (runtime statistics, later container cgroups). Served as text by our own HTTP server.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bocker::rt {
class Loop;
}

namespace bocker::metrics {

// Content-Type of the text exposition format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  prometheus::Registry& registry() noexcept { return *registry_; }
  // A collector read at every scrape, after the registry.
  void add_collector(std::shared_ptr<prometheus::Collectable> c) { collectors_.push_back(std::move(c)); }

  // One finished HTTP request (route is the pattern, e.g. "/containers/{id}/json").
  void observe_http(std::string_view route, std::string_view method, int status, std::chrono::nanoseconds took);

  // Everything in the text exposition format.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors_;
  prometheus::Family<prometheus::Counter>* http_requests_;
  prometheus::Family<prometheus::Histogram>* http_duration_;
  // Children by "route\0method\0code": saves prometheus-cpp's label-map lookup per request.
  struct HttpChildren {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };
  std::unordered_map<std::string, HttpChildren> http_cache_;
  std::string key_;
};

// Runtime metrics of `loop`, read at scrape time: loop iterations, io_uring submissions and
// completions, tasks alive, worker pool depth and busy threads, event-loop lag histogram,
// and bocker_build_info.
std::shared_ptr<prometheus::Collectable> runtime_collector(rt::Loop& loop);

// Appends `families` to `out` in the text exposition format (families without samples are left out).
void write_text(std::string& out, const std::vector<prometheus::MetricFamily>& families);

// Helpers for collectors that build families by hand.
prometheus::MetricFamily gauge_family(std::string name, std::string help);
prometheus::MetricFamily counter_family(std::string name, std::string help);
prometheus::ClientMetric& add_sample(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace bocker::metrics
