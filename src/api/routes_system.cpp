#include <string>

#include "bocker/api/backend.hpp"
#include "bocker/api/routes.hpp"
#include "bocker/http/server.hpp"
#include "bocker/metrics/metrics.hpp"
#include "bocker/runtime/offload.hpp"

namespace bocker::api {

namespace {

http::Headers ping_headers() {
  return http::Headers{
      {"Api-Version", std::string(kApiVersion)},
      {"Ostype", "linux"},
      {"Docker-Experimental", "false"},
      {"Builder-Version", ""},
      {"Swarm", "inactive"},
      {"Cache-Control", "no-cache, no-store, must-revalidate"},
      {"Pragma", "no-cache"},
  };
}

rt::Task<void> ping(http::Request& req, http::ResponseWriter& w) {
  // For HEAD the server sends the same head (Content-Length 2) without the body.
  (void)req;
  http::Response r = http::Response::text(200, "OK");
  for (const auto& [k, v] : ping_headers()) r.headers.set(k, v);
  co_await w.send(std::move(r));
}

bool is_swarm_path(std::string_view p) {
  for (std::string_view prefix : {"/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"}) {
    if (p.rfind(prefix, 0) == 0 && (p.size() == prefix.size() || p[prefix.size()] == '/')) return true;
  }
  return false;
}

}  // namespace

void add_system_routes(http::Router& r, Context& ctx) {
  r.get("/_ping", ping);
  r.head("/_ping", ping);
  r.get("/version", [&ctx](http::Request&, http::ResponseWriter& w) -> rt::Task<void> {
    return w.send(http::Response::json(200, version_json(ctx.host)));
  });
  r.get("/info", [&ctx](http::Request&, http::ResponseWriter& w) -> rt::Task<void> {
    if (ctx.images != nullptr) {
      ctx.engine.images = ctx.images->count();
      ctx.engine.storage_driver = ctx.images->driver_name();
    }
    if (ctx.containers != nullptr) {
      ctx.engine.containers = ctx.containers->count_all();
      ctx.engine.paused = ctx.containers->count_paused();
      ctx.engine.running = ctx.containers->count_running() - ctx.engine.paused;  // docker: running excludes paused
      ctx.engine.stopped = ctx.engine.containers - ctx.engine.running - ctx.engine.paused;
    }
    return w.send(http::Response::json(200, info_json(ctx.host, ctx.engine)));
  });
}

void set_unsupported_fallback(http::Router& r) {
  r.set_fallback([](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    if (!req.allowed_methods.empty()) return http::default_fallback(req, w);
    if (is_swarm_path(req.path)) {
      return w.send(http::Response::error(503, "This node is not a swarm manager. Use \"docker swarm init\" or "
                                               "\"docker swarm join\" to connect this node to swarm and try again."));
    }
    return w.send(http::Response::error(404, req.method + " " + req.path + " is not supported by bocker"));
  });
}

namespace {

// The registry and the runtime collector read loop-thread state (cheap): serialized here. The
// container families read cgroup files and /proc/<pid>/net/dev (blocking): the snapshot is copied
// from the records here, the reads and their text are done on a worker thread.
rt::Task<void> serve_metrics(metrics::Metrics& m, const metrics::SnapshotFn& containers,
                             http::ResponseWriter& w) {
  std::string body = m.serialize();
  if (containers) {
    std::vector<metrics::ContainerSample> samples = containers();
    std::string* out = &body;
    const std::vector<metrics::ContainerSample>* in = &samples;
    co_await rt::offload([out, in] { metrics::write_text(*out, metrics::collect_containers(*in)); });
  }
  co_await w.send(http::Response::text(200, std::move(body), std::string(metrics::kContentType)));
}

}  // namespace

void add_metrics_routes(http::Router& r, metrics::Metrics& m, metrics::SnapshotFn containers) {
  // The router keeps the handler (and `containers` in it) for as long as it serves.
  r.get("/metrics",
        [&m, containers = std::move(containers)](http::Request&, http::ResponseWriter& w) -> rt::Task<void> {
          return serve_metrics(m, containers, w);
        });
}

}  // namespace bocker::api
