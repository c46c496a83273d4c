// Docker's `filters` query parameter, shared by the list, prune and events endpoints.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bocker::api {

// One filter's values: {"key": ["v", ...]}, the older {"key": {"v": true}}, or a plain string.
inline std::vector<std::string> filter_values(const nlohmann::json& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& x : v) {
      if (x.is_string()) out.push_back(x.get<std::string>());
    }
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) out.push_back(it.key());
  } else if (v.is_string()) {
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace bocker::api
