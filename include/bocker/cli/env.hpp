// The environment the CLI reads (BOCKER_HOST, BOCKER_NO_AUTOSTART, ...), injectable for tests.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace bocker::cli {

// A read-only view of environment variables. `process()` reads the real environment;
// `from_map()` serves a fixed set, so tests never depend on (or change) the real one.
class Env {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string&)>;

  explicit Env(Lookup lookup) : lookup_(std::move(lookup)) {}

  static Env process();
  static Env from_map(std::map<std::string, std::string> vars);

  // The value of `name`, or nullopt when unset. An empty value counts as set.
  std::optional<std::string> get(const std::string& name) const { return lookup_(name); }
  // The value of `name`, or `fallback` when unset or empty.
  std::string get_or(const std::string& name, const std::string& fallback) const {
    auto v = get(name);
    return v && !v->empty() ? *v : fallback;
  }

 private:
  Lookup lookup_;
};

}  // namespace bocker::cli
