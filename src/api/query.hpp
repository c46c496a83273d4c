// Internal to the api module: query parameters several routes share.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "bocker/http/request.hpp"

namespace bocker::api {

// ?filters=<JSON object>: null when absent; 400 (invalid()) when it is not a JSON object.
nlohmann::json filters_query(const http::Request& req);
// ?since= / ?until=: unix seconds with an optional fraction; 0 when absent; 400 when malformed.
double seconds_query(const http::Request& req, std::string_view key);

}  // namespace bocker::api
