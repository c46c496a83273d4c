// write_text(): the exposition format byte for byte (escaping, histograms, summaries, untyped,
// timestamps, empty families left out), and parity with prometheus-cpp's TextSerializer values.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>

#include "bocker/metrics/metrics.hpp"

namespace bocker::metrics {
namespace {

TEST(TextFormat, WritesEveryTypeWithEscaping) {
  std::vector<prometheus::MetricFamily> fams;
  auto c = counter_family("a_total", "Help with \\ and\nnewline.");
  add_sample(c, {{"path", "C:\\x \"q\"\nz"}}).counter.value = 3;
  fams.push_back(c);
  auto g = gauge_family("b", "");
  add_sample(g).gauge.value = 0.25;
  add_sample(g, {{"k", "v"}}).gauge.value = -INFINITY;
  g.metric.back().timestamp_ms = 1700000000123;
  fams.push_back(g);
  fams.push_back(gauge_family("empty", "Never written."));
  prometheus::MetricFamily h;
  h.name = "h_seconds";
  h.help = "H.";
  h.type = prometheus::MetricType::Histogram;
  auto& hm = add_sample(h, {{"r", "x"}});
  hm.histogram.bucket = {{1, 0.5}, {3, 1}};
  hm.histogram.sample_count = 4;
  hm.histogram.sample_sum = 6.5;
  fams.push_back(h);
  prometheus::MetricFamily s;
  s.name = "s";
  s.type = prometheus::MetricType::Summary;
  auto& sm = add_sample(s);
  sm.summary.quantile = {{0.5, 2}};
  sm.summary.sample_count = 1;
  sm.summary.sample_sum = 2;
  fams.push_back(s);
  prometheus::MetricFamily u;
  u.name = "u";
  u.type = prometheus::MetricType::Untyped;
  add_sample(u).untyped.value = NAN;
  fams.push_back(u);

  std::string out;
  write_text(out, fams);
  EXPECT_EQ(out,
            "# HELP a_total Help with \\\\ and\\nnewline.\n"
            "# TYPE a_total counter\n"
            "a_total{path=\"C:\\\\x \\\"q\\\"\\nz\"} 3\n"
            "# TYPE b gauge\n"
            "b 0.25\n"
            "b{k=\"v\"} -Inf 1700000000123\n"
            "# HELP h_seconds H.\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{r=\"x\",le=\"0.5\"} 1\n"
            "h_seconds_bucket{r=\"x\",le=\"1\"} 3\n"
            "h_seconds_bucket{r=\"x\",le=\"+Inf\"} 4\n"
            "h_seconds_sum{r=\"x\"} 6.5\n"
            "h_seconds_count{r=\"x\"} 4\n"
            "# TYPE s summary\n"
            "s{quantile=\"0.5\"} 2\n"
            "s_sum 2\n"
            "s_count 1\n"
            "# TYPE u untyped\n"
            "u NaN\n");
}

TEST(TextFormat, SameSampleLinesAsPrometheusCppForRoundValues) {
  Metrics m;
  m.observe_http("/_ping", "GET", 200, std::chrono::milliseconds(2));
  auto fams = m.registry().Collect();
  std::string ours;
  write_text(ours, fams);
  std::string theirs = prometheus::TextSerializer().Serialize(fams);
  EXPECT_NE(theirs.find("bocker_http_requests_total{code=\"200\",method=\"GET\",route=\"/_ping\"} 1"),
            std::string::npos);
  EXPECT_NE(ours.find("bocker_http_requests_total{code=\"200\",method=\"GET\",route=\"/_ping\"} 1\n"),
            std::string::npos)
      << ours;
  EXPECT_NE(ours.find("bocker_http_request_duration_seconds_bucket{route=\"/_ping\",le=\"0.005\"} 1\n"),
            std::string::npos)
      << ours;
  EXPECT_NE(ours.find("bocker_http_request_duration_seconds_count{route=\"/_ping\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace bocker::metrics
