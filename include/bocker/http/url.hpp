// Percent-decoding and query strings for request targets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bocker::http {

// Decodes %XX escapes; with `plus_is_space` ("application/x-www-form-urlencoded" rules) '+'
// becomes ' '. Returns nullopt for a malformed escape ("%", "%4", "%zz").
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

// Encodes everything but unreserved characters (RFC 3986) as %XX. `keep_slash` leaves '/'.
std::string percent_encode(std::string_view s, bool keep_slash = false);

// "a=1&b=x%20y&c" -> {{"a","1"},{"b","x y"},{"c",""}}. Empty pieces are skipped.
// Returns nullopt when a key or value has a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q);

// Splits a request-target into its path and query ("/a?b=1#f" -> "/a", "b=1"). An
// absolute-form target ("http://host/a?b") yields its path ("/a"). Returns nullopt when the
// target is neither origin-form nor absolute-form.
struct TargetParts {
  std::string_view path;
  std::string_view query;
};
std::optional<TargetParts> split_target(std::string_view target);

}  // namespace bocker::http
