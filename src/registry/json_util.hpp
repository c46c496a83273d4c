// Internal: depth-limited JSON parsing and typed field access with errors naming the document and field.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "bocker/runtime/error.hpp"

namespace bocker::registry::detail {

inline constexpr int kMaxJsonDepth = 64;

// Parses `body` as JSON; `what` names the document in errors ("manifest", "image config").
inline nlohmann::json parse_json(std::string_view body, std::string_view what) {
  auto limit_depth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth) {
      throw invalid(std::string(what) + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(body.begin(), body.end(), limit_depth);
  } catch (const nlohmann::json::exception& e) {
    throw invalid(std::string(what) + ": invalid JSON: " + e.what());
  }
}

inline const char* type_name(const nlohmann::json& j) { return j.type_name(); }

// The member `key` of object `obj` or nullptr when absent.
inline const nlohmann::json* member(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

inline std::string expect_string(const nlohmann::json& v, const std::string& field) {
  if (!v.is_string()) throw invalid(field + " must be a string, not " + type_name(v));
  return v.get<std::string>();
}

inline std::int64_t expect_int64(const nlohmann::json& v, const std::string& field) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw invalid(field + " is too large: " + std::to_string(u));
    }
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) throw invalid(field + " must be an integer, not " + v.dump());
  throw invalid(field + " must be an integer, not " + type_name(v));
}

}  // namespace bocker::registry::detail
