#include "bocker/cli/format.hpp"

#include <cstdio>

#include "bocker/cli/flags.hpp"

namespace bocker::cli {
namespace {

std::string scaled(double v, double base, const char* const* units, size_t n) {
  size_t i = 0;
  while (v >= base && i + 1 < n) {
    v /= base;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g%s", v, units[i]);
  return buf;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Resolves ".", ".A" or ".A.B" against `root`; null when a step is missing.
nlohmann::json lookup(const nlohmann::json& root, std::string_view path, std::string_view tmpl) {
  if (path.empty() || path.front() != '.') {
    throw UsageError("template parsing error in \"" + std::string(tmpl) + "\": unsupported action \"" +
                     std::string(path) + "\" (supported: {{json .}}, {{.Field}}, {{json .Field}})");
  }
  const nlohmann::json* cur = &root;
  path.remove_prefix(1);
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string key(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
  }
  return *cur;
}

}  // namespace

std::string human_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  return scaled(bytes, 1024, kUnits, std::size(kUnits));
}

std::string human_size(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  return scaled(bytes, 1000, kUnits, std::size(kUnits));
}

bool print_formatted(std::string_view format, const nlohmann::json& value, std::string& out) {
  if (format.empty()) return false;
  if (format == "json") {
    out += value.dump() + "\n";
    return true;
  }
  std::string_view rest = format;
  std::string result;
  while (!rest.empty()) {
    auto open = rest.find("{{");
    if (open == std::string_view::npos) {
      result += rest;
      break;
    }
    result += rest.substr(0, open);
    auto close = rest.find("}}", open);
    if (close == std::string_view::npos) {
      throw UsageError("template parsing error in \"" + std::string(format) + "\": unclosed action");
    }
    std::string_view action = trim(rest.substr(open + 2, close - open - 2));
    bool as_json = false;
    if (action.starts_with("json ")) {
      as_json = true;
      action = trim(action.substr(5));
    }
    nlohmann::json v = lookup(value, action, format);
    if (as_json || !v.is_string()) {
      result += v.is_null() && !as_json ? "<no value>" : v.dump();
    } else {
      result += v.get<std::string>();
    }
    rest = rest.substr(close + 2);
  }
  out += result + "\n";
  return true;
}

std::string json_str(const nlohmann::json& j, std::string_view key, std::string_view fallback) {
  if (!j.is_object()) return std::string(fallback);
  auto it = j.find(std::string(key));
  if (it == j.end() || it->is_null()) return std::string(fallback);
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace bocker::cli
