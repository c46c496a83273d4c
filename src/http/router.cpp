#include "bocker/http/router.hpp"

#include <algorithm>

#include "bocker/http/server.hpp"
#include "bocker/http/url.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::http {

namespace {
bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string decode_or_raw(std::string_view s) {
  auto d = percent_decode(s);
  return d ? std::move(*d) : std::string(s);
}

bool match_from(const std::vector<Router::Segment>& pat, std::size_t pi,
                const std::vector<std::string_view>& segs, std::size_t si,
                std::map<std::string, std::string>& params) {
  if (pi == pat.size()) return si == segs.size();
  if (si == segs.size()) return false;
  const auto& p = pat[pi];
  switch (p.kind) {
    case Router::Segment::Kind::kLiteral:
      return p.text == segs[si] && match_from(pat, pi + 1, segs, si + 1, params);
    case Router::Segment::Kind::kParam:
      if (!match_from(pat, pi + 1, segs, si + 1, params)) return false;
      params[p.text] = decode_or_raw(segs[si]);
      return true;
    case Router::Segment::Kind::kRest:
      // Longest first: the segments after the parameter must match the rest of the pattern.
      for (std::size_t end = segs.size(); end > si; --end) {
        if (!match_from(pat, pi + 1, segs, end, params)) continue;
        std::string joined;
        for (std::size_t i = si; i < end; ++i) {
          if (i > si) joined.push_back('/');
          joined.append(segs[i]);
        }
        params[p.text] = decode_or_raw(joined);
        return true;
      }
      return false;
  }
  return false;
}
}  // namespace

std::optional<std::pair<std::string, std::string_view>> split_api_version(std::string_view path) {
  if (path.size() < 5 || path[0] != '/' || path[1] != 'v') return std::nullopt;
  std::size_t end = path.find('/', 2);
  std::string_view ver = path.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2);
  std::size_t dot = ver.find('.');
  if (dot == std::string_view::npos || !is_digits(ver.substr(0, dot)) || !is_digits(ver.substr(dot + 1))) {
    return std::nullopt;
  }
  std::string_view rest = end == std::string_view::npos ? std::string_view("/") : path.substr(end);
  return std::make_pair(std::string(ver), rest);
}

Router& Router::add(std::string_view method, std::string_view pattern, Handler handler,
                    RouteOptions options) {
  if (pattern.empty() || pattern.front() != '/') {
    throw invalid("route pattern \"" + std::string(pattern) + "\" must start with '/'");
  }
  if (method.empty()) throw invalid("route \"" + std::string(pattern) + "\" has no method");
  Route r;
  r.method = std::string(method);
  r.pattern = std::string(pattern);
  r.handler = std::move(handler);
  r.options = options;
  for (std::string_view seg : split_path(pattern)) {
    if (!seg.empty() && seg.front() == '{') {
      if (seg.back() != '}' || seg.size() < 3) {
        throw invalid("route pattern \"" + std::string(pattern) + "\" has a malformed parameter \"" +
                      std::string(seg) + "\"");
      }
      std::string_view inner = seg.substr(1, seg.size() - 2);
      std::size_t colon = inner.find(':');
      if (colon == std::string_view::npos) {
        r.segments.push_back({Segment::Kind::kParam, std::string(inner)});
      } else if (inner.substr(colon + 1) == ".*" && colon > 0) {
        r.segments.push_back({Segment::Kind::kRest, std::string(inner.substr(0, colon))});
      } else {
        throw invalid("route pattern \"" + std::string(pattern) +
                      "\": only \"{name}\" and \"{name:.*}\" are supported");
      }
    } else {
      r.segments.push_back({Segment::Kind::kLiteral, std::string(seg)});
      ++r.literals;
    }
  }
  routes_.push_back(std::move(r));
  return *this;
}

const Router::Route* Router::match(Request& req) const {
  std::string_view raw = req.raw_path.empty() ? std::string_view(req.path) : std::string_view(req.raw_path);
  if (auto v = split_api_version(raw)) {
    req.api_version = std::move(v->first);
    raw = v->second;
  }
  auto segs = split_path(raw);
  const Route* best = nullptr;
  const Route* best_get = nullptr;
  std::map<std::string, std::string> best_params, get_params;
  req.allowed_methods.clear();
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match_from(r.segments, 0, segs, 0, params)) continue;
    if (r.method == req.method) {
      if (!best || r.literals > best->literals) {
        best = &r;
        best_params = std::move(params);
      }
    } else if (req.method == "HEAD" && r.method == "GET") {
      if (!best_get || r.literals > best_get->literals) {
        best_get = &r;
        get_params = std::move(params);
      }
    } else if (std::find(req.allowed_methods.begin(), req.allowed_methods.end(), r.method) ==
               req.allowed_methods.end()) {
      req.allowed_methods.push_back(r.method);
    }
  }
  if (!best && best_get) {
    best = best_get;
    best_params = std::move(get_params);
  }
  if (best) {
    req.allowed_methods.clear();
    req.params = std::move(best_params);
    req.route = best->pattern;
  } else {
    req.params.clear();
    req.route.clear();
  }
  return best;
}

bool Router::streams_body(Request& req) const {
  const Route* r = match(req);
  return r != nullptr && r->options.stream_body;
}

rt::Task<void> Router::dispatch(Request& req, ResponseWriter& w) const {
  const Route* r = match(req);
  if (r != nullptr && r->handler) {
    co_await r->handler(req, w);
  } else if (fallback_) {
    co_await fallback_(req, w);
  } else {
    co_await default_fallback(req, w);
  }
}

rt::Task<void> default_fallback(Request& req, ResponseWriter& w) {
  if (!req.allowed_methods.empty()) {
    Response r = Response::error(405, "method " + req.method + " not allowed for " + req.path);
    std::string allow;
    for (const auto& m : req.allowed_methods) {
      if (!allow.empty()) allow += ", ";
      allow += m;
    }
    r.headers.add("Allow", allow);
    co_await w.send(std::move(r));
  } else {
    co_await w.send(Response::error(404, "page not found"));
  }
}

}  // namespace bocker::http
