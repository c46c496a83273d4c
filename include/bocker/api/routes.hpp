// Engine API routes served by bockerd.
#pragma once

#include "bocker/api/system.hpp"
#include "bocker/http/router.hpp"
#include "bocker/metrics/container_collector.hpp"

namespace bocker::metrics {
class Metrics;
}

namespace bocker::api {

class ImageBackend;

struct Context {
  HostFacts host;
  EngineState engine;
  metrics::Metrics* metrics = nullptr;
  ImageBackend* images = nullptr;  // counts and the storage driver name for /info
  class ContainerBackend* containers = nullptr;
};

// HEAD/GET /_ping, GET /version, GET /info.
void add_system_routes(http::Router& r, Context& ctx);
// Everything else: 404 {"message": "<METHOD> <path> is not supported by bocker"} (swarm and
// its objects: 503 "This node is not a swarm manager", as Docker answers when swarm is off),
// 405 when the path exists under another method.
void set_unsupported_fallback(http::Router& r);
class ImageBackend;
// POST /images/create (pull: fromImage; import: fromSrc=-), GET /images/json,
// GET /images/{name}/json, DELETE /images/{name}, POST /images/{name}/tag.
void add_image_routes(http::Router& r, ImageBackend& backend);
class ContainerBackend;
// /containers/...: create, json, {id}/json, start, stop, restart, kill, pause, unpause, DELETE, wait, attach, logs, resize.
void add_container_routes(http::Router& r, ContainerBackend& backend);
class VolumeBackend;
// GET /volumes, POST /volumes/create, GET /volumes/{name}, DELETE /volumes/{name}, POST /volumes/prune.
void add_volume_routes(http::Router& r, VolumeBackend& backend);
// GET /metrics on the metrics listener: `m` serialized on the loop thread, then (when
// `containers` is set) the per-container families: the snapshot taken on the loop thread, the
// cgroup and /proc reads on a worker thread (metrics::collect_containers).
void add_metrics_routes(http::Router& r, metrics::Metrics& m, metrics::SnapshotFn containers = {});

}  // namespace bocker::api
