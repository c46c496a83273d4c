// Method + path-pattern routing with Docker's optional "/vX.Y" API-version prefix.
// Patterns: literal segments, "{name}" (one segment) and "{name:.*}" (one or more segments,
// '/' included: image names like "library/alpine").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bocker/http/request.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::http {

class ResponseWriter;
using Handler = std::function<rt::Task<void>(Request&, ResponseWriter&)>;

struct RouteOptions {
  bool stream_body = false;  // the handler reads the body itself through req.body_stream
};

// "/v1.47/containers/json" -> {"1.47", "/containers/json"}; "/v1.47" -> {"1.47", "/"};
// nullopt when `path` has no version prefix.
std::optional<std::pair<std::string, std::string_view>> split_api_version(std::string_view path);

class Router {
 public:
  struct Segment {
    enum class Kind { kLiteral, kParam, kRest };
    Kind kind;
    std::string text;  // the literal, or the parameter name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
    RouteOptions options;
    int literals = 0;  // more literal segments win over parameters
  };

  // Throws bocker::Error(kInvalid) for a malformed pattern (not starting with '/', bad "{...}").
  Router& add(std::string_view method, std::string_view pattern, Handler handler, RouteOptions options = {});
  Router& get(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return add("GET", pattern, std::move(h), o);
  }
  Router& post(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return add("POST", pattern, std::move(h), o);
  }
  Router& put(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return add("PUT", pattern, std::move(h), o);
  }
  Router& del(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return add("DELETE", pattern, std::move(h), o);
  }
  Router& head(std::string_view pattern, Handler h, RouteOptions o = {}) {
    return add("HEAD", pattern, std::move(h), o);
  }

  // Called when no route matches. req.allowed_methods is non-empty when the path matched
  // under other methods (the fallback decides between 404 and 405). Default: Docker-style
  // JSON 404 "page not found" / 405.
  void set_fallback(Handler handler) { fallback_ = std::move(handler); }

  // Strips the version prefix into req.api_version, then fills req.route, req.params and
  // req.allowed_methods. HEAD falls back to a GET route. Returns null when nothing matched.
  const Route* match(Request& req) const;
  // Runs the matched route's handler, or the fallback.
  rt::Task<void> dispatch(Request& req, ResponseWriter& w) const;
  // For the server's stream decider: does the route of `req` stream its body?
  bool streams_body(Request& req) const;

  std::size_t size() const noexcept { return routes_.size(); }

 private:
  std::vector<Route> routes_;
  Handler fallback_;
};

// The default fallback: 405 with an Allow header when req.allowed_methods is set, else 404.
rt::Task<void> default_fallback(Request& req, ResponseWriter& w);

}  // namespace bocker::http
