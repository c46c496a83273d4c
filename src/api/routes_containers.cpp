// Container routes: create, start, stop, kill, pause, unpause, top, rename, prune, restart, wait, attach, logs, list, inspect,
// delete, resize, exec, stats, commit. Argument parsing here; behaviour in the ContainerBackend.
#include <string>
#include <vector>

#include "bocker/api/backend.hpp"
#include "bocker/api/bodies.hpp"
#include "bocker/api/routes.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "query.hpp"

namespace bocker::api {

namespace {

int int_query(const http::Request& req, std::string_view key, int fallback) {
  std::string v = req.query_value(key);
  if (v.empty()) return fallback;
  try {
    std::size_t used = 0;
    long n = std::stol(v, &used);
    if (used != v.size() || n < -1 || n > 1'000'000) throw std::out_of_range("range");
    return static_cast<int>(n);
  } catch (const std::logic_error&) {
    throw invalid("invalid value for " + std::string(key) + ": \"" + v + "\"");
  }
}

rt::Task<void> create(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.create(parse_create_body(req.body), req.query_value("name"));
  co_await w.send(http::Response::json(201, out));
}

rt::Task<void> list(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.list(req.query_bool("all"));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> inspect(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.inspect(req.param("id"));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> start(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.start(req.param("id"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> stop(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.stop(req.param("id"), int_query(req, "t", -1));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> restart(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.restart(req.param("id"), int_query(req, "t", -1));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> kill(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.kill(req.param("id"), req.query_value("signal", "KILL"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> pause(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.pause(req.param("id"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> unpause(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.unpause(req.param("id"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> top(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.top(req.param("id"), req.query_value("ps_args"));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> rename(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.rename(req.param("id"), req.query_value("name"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> prune(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.prune(filters_query(req));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> remove(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.remove(req.param("id"), req.query_bool("force"), req.query_bool("v"));
  co_await w.send(http::Response::empty(204));
}

rt::Task<void> wait(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  std::string cond = req.query_value("condition", "not-running");
  if (cond != "not-running" && cond != "next-exit" && cond != "removed") {
    throw invalid("invalid condition: \"" + cond + "\" (not-running, next-exit or removed)");
  }
  co_await b.wait(req.param("id"), cond, w);
}

rt::Task<void> attach(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  AttachOptions o;
  o.stream = req.query_bool("stream");
  o.stdin_ = req.query_bool("stdin");
  o.stdout_ = req.query_bool("stdout");
  o.stderr_ = req.query_bool("stderr");
  o.logs = req.query_bool("logs");
  co_await b.attach(req.param("id"), o, req, w);
}

rt::Task<void> logs(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  LogsOptions o;
  o.follow = req.query_bool("follow");
  o.stdout_ = req.query_bool("stdout");
  o.stderr_ = req.query_bool("stderr");
  if (!o.stdout_ && !o.stderr_) throw invalid("Bad parameters: you must choose at least one stream");
  o.timestamps = req.query_bool("timestamps");
  o.since = static_cast<long long>(seconds_query(req, "since"));
  o.until = static_cast<long long>(seconds_query(req, "until"));
  std::string tail = req.query_value("tail", "all");
  o.tail = tail == "all" || tail.empty() ? -1 : int_query(req, "tail", -1);
  co_await b.logs(req.param("id"), o, w);
}

rt::Task<void> resize(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.resize(req.param("id"), int_query(req, "h", 0), int_query(req, "w", 0));
  co_await w.send(http::Response::empty(200));
}

bool json_bool(const nlohmann::json& body, const char* key, bool fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_boolean()) throw invalid(std::string(key) + " must be a boolean");
  return body[key].get<bool>();
}

nlohmann::json body_object(const http::Request& req, const char* what) {
  if (req.body.empty()) return nlohmann::json::object();
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_null()) return nlohmann::json::object();
  if (body.is_discarded() || !body.is_object()) throw invalid(std::string("invalid JSON in the ") + what + " request body");
  return body;
}

rt::Task<void> exec_create(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  ExecCreateRequest e = parse_exec_create(req.body);
  nlohmann::json out = nlohmann::json::object();
  out["Id"] = co_await b.exec_create(req.param("id"), std::move(e));
  co_await w.send(http::Response::json(201, out));
}

rt::Task<void> exec_start(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json body = body_object(req, "exec start");
  co_await b.exec_start(req.param("id"), json_bool(body, "Detach", false), req, w);
}

rt::Task<void> exec_inspect(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  nlohmann::json out = co_await b.exec_inspect(req.param("id"));
  co_await w.send(http::Response::json(200, out));
}

rt::Task<void> exec_resize(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.exec_resize(req.param("id"), int_query(req, "h", 0), int_query(req, "w", 0));
  co_await w.send(http::Response::empty(200));
}

rt::Task<void> stats(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  co_await b.stats(req.param("id"), req.query_bool("stream", true), req.query_bool("one-shot"), w);
}

rt::Task<void> commit(ContainerBackend& b, http::Request& req, http::ResponseWriter& w) {
  CommitRequest c = parse_commit(req);
  nlohmann::json out = nlohmann::json::object();
  out["Id"] = co_await b.commit(std::move(c));
  co_await w.send(http::Response::json(201, out));
}

}  // namespace

void add_container_routes(http::Router& r, ContainerBackend& b) {
  using H = rt::Task<void> (*)(ContainerBackend&, http::Request&, http::ResponseWriter&);
  auto bind = [&b](H fn) {
    return [&b, fn](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> { return fn(b, req, w); };
  };
  r.post("/containers/create", bind(create));
  r.get("/containers/json", bind(list));
  r.get("/containers/{id}/json", bind(inspect));
  r.post("/containers/{id}/start", bind(start));
  r.post("/containers/{id}/stop", bind(stop));
  r.post("/containers/{id}/restart", bind(restart));
  r.post("/containers/{id}/kill", bind(kill));
  r.post("/containers/{id}/pause", bind(pause));
  r.post("/containers/{id}/unpause", bind(unpause));
  r.get("/containers/{id}/top", bind(top));
  r.post("/containers/{id}/rename", bind(rename));
  r.post("/containers/prune", bind(prune));
  r.del("/containers/{id}", bind(remove));
  r.post("/containers/{id}/wait", bind(wait));
  r.post("/containers/{id}/attach", bind(attach));
  r.get("/containers/{id}/logs", bind(logs));
  r.post("/containers/{id}/resize", bind(resize));
  r.post("/containers/{id}/exec", bind(exec_create));
  r.post("/exec/{id}/start", bind(exec_start));
  r.get("/exec/{id}/json", bind(exec_inspect));
  r.post("/exec/{id}/resize", bind(exec_resize));
  r.get("/containers/{id}/stats", bind(stats));
  r.post("/commit", bind(commit));
}

}  // namespace bocker::api
