// Volume routes: GET /volumes, POST /volumes/create, GET /volumes/{name}, DELETE /volumes/{name},
// POST /volumes/prune. Argument parsing here; behaviour in the VolumeBackend.
#include <string>

#include "bocker/api/routes.hpp"
#include "bocker/api/volume_backend.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "query.hpp"

namespace bocker::api {

namespace {

rt::Task<void> list(VolumeBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.list(filters_query(req));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> create(VolumeBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json body =
      req.body.empty() ? nlohmann::json::object() : nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw invalid("invalid JSON in the volume create request body");
  nlohmann::json out = co_await b.create(std::move(body));
  co_await w.send(http::Response::json(201, out));
}

rt::Task<void> inspect(VolumeBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.inspect(req.param("name"));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> remove(VolumeBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.remove(req.param("name"), req.query_bool("force"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> prune(VolumeBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.prune(filters_query(req));
  co_await w.send(http::Response::json(200, out));
}

}  // namespace

void add_volume_routes(http::Router& r, VolumeBackend& b) {
  using H = rt::Task<void> (*)(VolumeBackend&, http::Request&, http::ResponseWriter&);
  auto bind = [&b](H fn) {
    return [&b, fn](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> { return fn(b, req, w); };
  };
  r.get("/volumes", bind(list));
  r.post("/volumes/create", bind(create));
  r.post("/volumes/prune", bind(prune));
  r.get("/volumes/{name}", bind(inspect));
  r.del("/volumes/{name}", bind(remove));
}

}  // namespace bocker::api
