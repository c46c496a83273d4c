// The Prometheus text exposition format (version 0.0.4), written straight into one string with
// std::to_chars: prometheus-cpp's ostream-based TextSerializer took most of a 1000-container scrape.
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "bocker/metrics/metrics.hpp"

namespace bocker::metrics {

namespace {

void number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, p);
  }
}

// Label values escape backslash, double quote and newline; help texts backslash and newline.
void escaped(std::string& out, const std::string& s, bool quote) {
  const char* specials = quote ? "\\\n\"" : "\\\n";
  std::size_t start = 0;
  for (std::size_t i = s.find_first_of(specials); i != std::string::npos;
       i = s.find_first_of(specials, i + 1)) {
    out.append(s, start, i - start);
    out += '\\';
    out += s[i] == '\n' ? 'n' : s[i];
    start = i + 1;
  }
  out.append(s, start, std::string::npos);
}

// name[suffix]{labels[,extra_name="extra_value"]} value[ timestamp]\n
void line(std::string& out, const std::string& name, const char* suffix, const prometheus::ClientMetric& m,
          const char* extra_name, double extra_value, bool has_extra, double v) {
  out += name;
  out += suffix;
  if (!m.label.empty() || has_extra) {
    out += '{';
    bool first = true;
    for (const auto& l : m.label) {
      if (!first) out += ',';
      first = false;
      out += l.name;
      out += "=\"";
      escaped(out, l.value, true);
      out += '"';
    }
    if (has_extra) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      number(out, extra_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  number(out, v);
  if (m.timestamp_ms != 0) {
    out += ' ';
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, m.timestamp_ms);
    out.append(buf, p);
  }
  out += '\n';
}

const char* type_name(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void write_text(std::string& out, const std::vector<prometheus::MetricFamily>& families) {
  for (const auto& f : families) {
    if (f.metric.empty()) continue;
    if (!f.help.empty()) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      escaped(out, f.help, false);
      out += '\n';
    }
    out += "# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& m : f.metric) {
      switch (f.type) {
        case prometheus::MetricType::Counter:
          line(out, f.name, "", m, nullptr, 0, false, m.counter.value);
          break;
        case prometheus::MetricType::Gauge:
          line(out, f.name, "", m, nullptr, 0, false, m.gauge.value);
          break;
        case prometheus::MetricType::Untyped:
          line(out, f.name, "", m, nullptr, 0, false, m.untyped.value);
          break;
        case prometheus::MetricType::Summary:
          for (const auto& q : m.summary.quantile)
            line(out, f.name, "", m, "quantile", q.quantile, true, q.value);
          line(out, f.name, "_sum", m, nullptr, 0, false, m.summary.sample_sum);
          line(out, f.name, "_count", m, nullptr, 0, false, static_cast<double>(m.summary.sample_count));
          break;
        case prometheus::MetricType::Histogram: {
          bool inf = false;
          for (const auto& b : m.histogram.bucket) {
            line(out, f.name, "_bucket", m, "le", b.upper_bound, true,
                 static_cast<double>(b.cumulative_count));
            inf = inf || std::isinf(b.upper_bound);
          }
          if (!inf) {
            line(out, f.name, "_bucket", m, "le", INFINITY, true,
                 static_cast<double>(m.histogram.sample_count));
          }
          line(out, f.name, "_sum", m, nullptr, 0, false, m.histogram.sample_sum);
          line(out, f.name, "_count", m, nullptr, 0, false, static_cast<double>(m.histogram.sample_count));
          break;
        }
      }
    }
  }
}

}  // namespace bocker::metrics
