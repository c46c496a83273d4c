#include "bocker/cli/env.hpp"

#include <cstdlib>

namespace bocker::cli {

Env Env::process() {
  return Env([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

Env Env::from_map(std::map<std::string, std::string> vars) {
  return Env([vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace bocker::cli
