#include "bocker/daemon/daemon.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "bocker/api/events.hpp"
#include "bocker/api/routes.hpp"
#include "bocker/daemon/container_service.hpp"
#include "bocker/volume/service.hpp"
#include "bocker/volume/store.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/build_info.hpp"
#include "bocker/http/server.hpp"
#include "bocker/metrics/container_collector.hpp"
#include "bocker/metrics/metrics.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/scope.hpp"

namespace bocker::daemon {

namespace {

std::string new_engine_id() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
    id += hex[rng() & 15];
  }
  return id;
}

std::string load_engine_id(const std::string& root) {
  std::string path = root + "/engine-id";
  try {
    std::string id = read_file(path);
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (id.size() == 36) return id;
  } catch (const SystemError& e) {
    if (e.code().value() != ENOENT) throw;
  }
  std::string id = new_engine_id();
  write_file_atomic(path, id + "\n");
  return id;
}

std::string metrics_listen(const std::string& addr) { return addr.empty() ? std::string() : "tcp://" + addr; }

}  // namespace

void log_line(std::string_view msg) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03lldZ bockerd: %.*s\n", stamp, static_cast<long long>(ms), static_cast<int>(msg.size()),
               msg.data());
}

struct Daemon::Impl {
  Config cfg;
  RootLock lock;
  api::Context ctx;
  metrics::Metrics metrics;
  metrics::EngineMetrics engine_metrics = metrics::make_engine_metrics(metrics);  // pulls, starts, logs
  api::Events events;  // docker events; outlives the services that publish to it
  std::unique_ptr<ImageService> images;
  std::unique_ptr<volume::Store> volume_store;
  std::unique_ptr<ContainerService> containers;
  std::unique_ptr<volume::Service> volumes;
  std::unique_ptr<http::Server> api_server;
  std::unique_ptr<http::Server> metrics_server;

  explicit Impl(Config c) : cfg(std::move(c)), lock(RootLock::acquire(cfg.root)) {
    ctx.host = api::read_host_facts();
    ctx.engine.id = load_engine_id(cfg.root);
    ctx.engine.root_dir = cfg.root;
    ctx.metrics = &metrics;
    ImageServiceOptions io;
    io.root = cfg.root;
    io.storage_driver = cfg.storage_driver;
    io.insecure_registries = cfg.insecure_registries;
    io.max_concurrent_downloads = cfg.max_concurrent_downloads;
    images = std::make_unique<ImageService>(io);
    ctx.images = images.get();
    volume_store = std::make_unique<volume::Store>(cfg.root);
    containers = std::make_unique<ContainerService>(cfg.root, *images);
    containers->set_volume_store(volume_store.get());
    volumes = std::make_unique<volume::Service>(
        *volume_store, [this](const std::string& name) { return containers->volume_users(name); });
    ctx.containers = containers.get();
    images->engine_metrics = &engine_metrics;
    containers->set_engine_metrics(&engine_metrics);
    containers->set_events(&events);
  }

  http::ServerOptions server_options(std::string listen) {
    http::ServerOptions o;
    o.listen = std::move(listen);
    o.socket_mode = 0660;
    o.server_name = api::server_header();
    o.on_request = [this](const http::RequestStats& s) {
      metrics.observe_http(s.route.empty() ? std::string_view("unmatched") : s.route, s.method, s.status,
                           s.duration);
    };
    o.log = [](std::string_view m) { log_line(m); };
    return o;
  }
};

Daemon::Daemon(Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Daemon::~Daemon() = default;

rt::Task<void> Daemon::run(rt::SignalSet& signals) {
  Impl& d = *impl_;
  d.metrics.add_collector(metrics::runtime_collector(rt::Loop::current()));

  http::Router api_router;
  api::add_system_routes(api_router, d.ctx);
  api::add_image_routes(api_router, *d.images);
  api::add_container_routes(api_router, *d.containers);
  api::add_volume_routes(api_router, *d.volumes);
  api::add_event_routes(api_router, d.events);
  api::set_unsupported_fallback(api_router);
  d.api_server = std::make_unique<http::Server>(d.server_options(d.cfg.host), std::move(api_router));
  d.api_server->listen();
  if (d.cfg.host.rfind("unix://", 0) == 0) {
    std::string path = d.cfg.host.substr(7);
    if (::chown(path.c_str(), 0, 0) != 0 && geteuid() == 0) throw SystemError(errno, "chown", path);
  }

  if (!d.cfg.metrics_addr.empty()) {
    http::Router metrics_router;
    api::add_metrics_routes(metrics_router, d.metrics, [&d] { return d.containers->samples(); });
    d.metrics_server = std::make_unique<http::Server>(d.server_options(metrics_listen(d.cfg.metrics_addr)),
                                                      std::move(metrics_router));
    d.metrics_server->listen();
  }

  log_line(std::string("bocker ") + build::kVersion + " (" + build::kGitCommit + ") serving " + d.cfg.host +
           (d.metrics_server ? ", metrics on http://" + d.cfg.metrics_addr + "/metrics" : std::string()) +
           ", root " + d.cfg.root + ", storage " + d.images->driver_name() + (rt::Loop::current().has_waitid() ? ", io_uring waitid" : ", pidfd poll"));

  rt::TaskScope scope;
  co_await d.containers->restore();  // live restore: re-adopt containers that outlived the last daemon
  co_await d.containers->configure_network(d.cfg.bridge, d.cfg.bridge_subnet, d.cfg.nft_table);
  d.containers->restart_on_daemon_start();  // restart policies always / unless-stopped
  scope.spawn(d.api_server->serve());
  if (d.metrics_server) scope.spawn(d.metrics_server->serve());

  int sig = co_await signals.next();
  log_line(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
  d.api_server->stop();
  if (d.metrics_server) d.metrics_server->stop();
  d.images->shutdown();
  co_await scope.join();
  co_await d.containers->shutdown();
  log_line("stopped");
}

}  // namespace bocker::daemon
