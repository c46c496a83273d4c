// Output helpers shared by the commands.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bocker::cli {

// Bytes in binary units like docker's `units.BytesSize`: "512B", "1.5KiB", "23.43GiB".
std::string human_bytes(double bytes);

// Decimal units like docker's `units.HumanSize` (image sizes): "1.2MB", "77.9MB".
std::string human_size(double bytes);

// Handles `--format`: "json" and "{{json .}}" print `value` as one JSON line and return true.
// Returns false for "" (use the default layout). Other templates throw UsageError, naming what
// is supported.
bool print_formatted(std::string_view format, const nlohmann::json& value, std::string& out);

// The string at `key` of `j`; numbers and bools in their JSON form; `fallback` otherwise.
std::string json_str(const nlohmann::json& j, std::string_view key, std::string_view fallback = "");

}  // namespace bocker::cli
