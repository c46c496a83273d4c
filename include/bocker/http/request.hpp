// HTTP/1.1 messages as the server sees them: case-insensitive headers and a parsed request.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bocker::http {

// ASCII case-insensitive comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;
// True when the comma-separated header value `list` contains `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) noexcept;

// An ordered list of header fields; lookups ignore the case of the name.
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  Headers() = default;
  Headers(std::initializer_list<Field> fields) : fields_(fields) {}

  // Appends a field (repeated names are kept).
  void add(std::string name, std::string value);
  // Replaces every field named `name` with one field.
  void set(std::string name, std::string value);
  // Removes every field named `name`; returns how many were removed.
  std::size_t remove(std::string_view name);

  // The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback) const;
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

class BodyStream;

// One parsed request. The router fills api_version, params and route.
struct Request {
  std::string method;                        // "GET", "POST", ...
  std::string target;                        // the raw request-target: "/v1.47/containers/json?all=1"
  std::string raw_path;                      // target without query, still percent-encoded
  std::string path;                          // decoded raw_path
  std::map<std::string, std::string> query;  // decoded; a repeated key keeps its last value
  std::vector<std::pair<std::string, std::string>> query_list;  // every pair, in order
  Headers headers;
  std::string body;  // the whole body, unless the route streams it (see body_stream)
  unsigned http_major = 1;
  unsigned http_minor = 1;
  bool keep_alive = true;
  bool upgrade = false;  // "Connection: upgrade" with an Upgrade header, or CONNECT

  // Set by the router.
  std::string api_version;                    // "1.47" for "/v1.47/...", else empty
  std::map<std::string, std::string> params;  // path parameters, decoded
  std::string route;  // the matched pattern ("/containers/{id}/start"); empty when none matched
  std::vector<std::string> allowed_methods;  // when the path matched but the method did not

  // Set by the server for routes that stream their body; null otherwise.
  BodyStream* body_stream = nullptr;

  // Query helpers. query_bool follows Docker: "", "0", "false", "False", "FALSE" are false.
  std::string query_value(std::string_view key, std::string_view fallback = {}) const;
  bool query_bool(std::string_view key, bool fallback = false) const;
  bool has_query(std::string_view key) const;
  std::string param(std::string_view name) const;
};

}  // namespace bocker::http
