// Query parameters several routes share. See query.hpp.
#include "query.hpp"

#include <stdexcept>
#include <string>

#include "bocker/runtime/error.hpp"

namespace bocker::api {

nlohmann::json filters_query(const http::Request& req) {
  std::string f = req.query_value("filters");
  if (f.empty()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw invalid("invalid filters: \"" + f + "\" is not a JSON object");
  return j;
}

double seconds_query(const http::Request& req, std::string_view key) {
  std::string v = req.query_value(key);
  if (v.empty()) return 0;
  try {
    std::size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size() || d < 0 || d > 1e11) throw std::out_of_range("range");
    return d;
  } catch (const std::logic_error&) {
    throw invalid("invalid value for " + std::string(key) + ": \"" + v + "\" (expected unix seconds)");
  }
}

}  // namespace bocker::api
