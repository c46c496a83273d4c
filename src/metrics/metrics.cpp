#include "bocker/metrics/metrics.hpp"

#include "bocker/build_info.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::metrics {

namespace {
const std::vector<double> kHttpBuckets = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};

class RuntimeCollector : public prometheus::Collectable {
 public:
  explicit RuntimeCollector(rt::Loop& loop) : loop_(loop) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    const rt::LoopStats& s = loop_.stats();
    std::vector<prometheus::MetricFamily> out;

    auto counter = [&](const char* name, const char* help, double v) {
      auto f = counter_family(name, help);
      add_sample(f).counter.value = v;
      out.push_back(std::move(f));
    };
    auto gauge = [&](const char* name, const char* help, double v) {
      auto f = gauge_family(name, help);
      add_sample(f).gauge.value = v;
      out.push_back(std::move(f));
    };
    counter("bocker_loop_iterations_total", "Event loop iterations.", static_cast<double>(s.iterations));
    counter("bocker_io_uring_submissions_total", "SQEs submitted to io_uring.",
            static_cast<double>(s.submissions));
    counter("bocker_io_uring_completions_total", "CQEs reaped from io_uring.",
            static_cast<double>(s.completions));
    gauge("bocker_tasks_alive", "Coroutine task frames alive on the loop thread.",
          static_cast<double>(rt::tasks_alive()));
    gauge("bocker_worker_pool_queue_depth", "Jobs waiting for a worker thread.",
          static_cast<double>(loop_.pool().queue_depth()));
    gauge("bocker_worker_pool_busy", "Worker threads running a job.",
          static_cast<double>(loop_.pool().busy()));
    gauge("bocker_worker_pool_threads", "Worker threads in the pool.",
          static_cast<double>(loop_.pool().threads()));

    prometheus::MetricFamily lag;
    lag.name = "bocker_event_loop_lag_seconds";
    lag.help = "Time one loop iteration spent running ready work (how long a new completion can wait).";
    lag.type = prometheus::MetricType::Histogram;
    prometheus::ClientMetric& m = add_sample(lag);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < rt::kLagBuckets.size(); ++i) {
      cumulative += s.lag_buckets[i];
      m.histogram.bucket.push_back({cumulative, rt::kLagBuckets[i]});
    }
    cumulative += s.lag_buckets[rt::kLagBuckets.size()];
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = s.lag_sum;
    out.push_back(std::move(lag));

    auto info = gauge_family("bocker_build_info", "bocker build: version and git commit, value 1.");
    add_sample(info, {{"version", build::kVersion}, {"commit", build::kGitCommit}}).gauge.value = 1;
    out.push_back(std::move(info));
    return out;
  }

 private:
  rt::Loop& loop_;
};
}  // namespace

prometheus::MetricFamily gauge_family(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

prometheus::MetricFamily counter_family(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Counter;
  return f;
}

prometheus::ClientMetric& add_sample(prometheus::MetricFamily& f,
                                     std::vector<prometheus::ClientMetric::Label> labels) {
  f.metric.emplace_back();
  f.metric.back().label = std::move(labels);
  return f.metric.back();
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  http_requests_ =
      &prometheus::BuildCounter()
           .Name("bocker_http_requests_total")
           .Help("HTTP requests served by the API and metrics listeners, by route, method and status code.")
           .Register(*registry_);
  http_duration_ = &prometheus::BuildHistogram()
                        .Name("bocker_http_request_duration_seconds")
                        .Help("HTTP request latency by route, from request head to the end of the response.")
                        .Register(*registry_);
}

void Metrics::observe_http(std::string_view route, std::string_view method, int status,
                           std::chrono::nanoseconds took) {
  key_.assign(route);
  key_ += '\0';
  key_ += method;
  key_ += '\0';
  key_ += std::to_string(status);
  auto it = http_cache_.find(key_);
  if (it == http_cache_.end()) {
    HttpChildren c{&http_requests_->Add({{"route", std::string(route)},
                                         {"method", std::string(method)},
                                         {"code", std::to_string(status)}}),
                   &http_duration_->Add({{"route", std::string(route)}}, kHttpBuckets)};
    it = http_cache_.emplace(key_, c).first;
  }
  it->second.requests->Increment();
  it->second.duration->Observe(std::chrono::duration<double>(took).count());
}

std::string Metrics::serialize() const {
  std::vector<prometheus::MetricFamily> all = registry_->Collect();
  for (const auto& c : collectors_) {
    auto more = c->Collect();
    all.insert(all.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  std::size_t samples = 0;
  for (const auto& f : all) samples += f.metric.size();
  std::string out;
  out.reserve(4096 + samples * 128);
  write_text(out, all);
  return out;
}

std::shared_ptr<prometheus::Collectable> runtime_collector(rt::Loop& loop) {
  return std::make_shared<RuntimeCollector>(loop);
}

}  // namespace bocker::metrics
