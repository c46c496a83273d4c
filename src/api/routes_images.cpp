// Image routes: POST /images/create (pull or import), GET /images/json, GET /images/{name}/json,
// DELETE /images/{name}, POST /images/{name}/tag.
#include <string>

#include "bocker/api/backend.hpp"
#include "bocker/api/bodies.hpp"
#include "bocker/api/routes.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::api {

namespace {

nlohmann::json error_message(const std::string& what) {
  return {{"errorDetail", {{"message", what}}}, {"error", what}};
}

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

// Streams progress messages as JSON lines. The first message starts the 200 response; an
// error before it becomes a plain JSON error response with the right status.
class ProgressStream {
 public:
  explicit ProgressStream(http::ResponseWriter& w) : w_(w) {}
  ProgressFn sink() {
    return [this](const nlohmann::json& m) { pending_ += m.dump() + "\r\n"; };
  }
  // Writes what the backend produced so far (called between backend steps by flush_loop).
  rt::Task<void> flush() {
    if (pending_.empty()) co_return;
    if (!w_.started()) {
      http::Headers h;
      h.add("Content-Type", "application/json");
      co_await w_.begin_stream(200, std::move(h));
    }
    std::string out = std::move(pending_);
    pending_.clear();
    co_await w_.write(out);
  }
  bool has_pending() const noexcept { return !pending_.empty(); }

 private:
  http::ResponseWriter& w_;
  std::string pending_;
};

// Runs `work` while flushing its progress to the client every few milliseconds.
rt::Task<void> run_streaming(http::ResponseWriter& w, ProgressStream& ps, rt::Task<void> work) {
  bool done = false;
  std::exception_ptr err;
  rt::TaskScope scope;
  scope.spawn([](rt::Task<void> t, bool& d, std::exception_ptr& e) -> rt::Task<void> {
    try {
      co_await t;
    } catch (...) {
      e = std::current_exception();
    }
    d = true;
  }(std::move(work), done, err));
  while (!done) {
    co_await rt::sleep_for(std::chrono::milliseconds(50));
    try {
      co_await ps.flush();
    } catch (...) {
      // The client went away: cancel the work and let it unwind.
      scope.cancel();
    }
  }
  co_await scope.join();
  if (err && !w.started() && !ps.has_pending()) std::rethrow_exception(err);
  if (err) ps.sink()(error_message(what_of(err)));
  co_await ps.flush();
  if (!w.started()) {
    http::Headers h;
    h.add("Content-Type", "application/json");
    co_await w.begin_stream(200, std::move(h));
  }
  co_await w.end();
}

rt::Task<void> images_create(ImageBackend& b, http::Request& req, http::ResponseWriter& w) {
  ProgressStream ps(w);
  if (req.has_query("fromImage")) {
    PullRequest pr;
    pr.reference = req.query_value("fromImage");
    std::string tag = req.query_value("tag");
    if (pr.reference.empty()) throw invalid("fromImage must not be empty");
    if (!tag.empty()) pr.reference += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
    pr.platform = req.query_value("platform");
    pr.registry_auth = std::string(req.headers.get_or("X-Registry-Auth", ""));
    co_await run_streaming(w, ps, b.pull(std::move(pr), ps.sink()));
    co_return;
  }
  if (req.query_value("fromSrc") == "-") {
    if (req.body_stream == nullptr) throw invalid("import needs the tarball as the request body");
    ImportRequest ir;
    ir.repo = utf8_query(req, "repo");
    ir.tag = utf8_query(req, "tag");
    ir.message = utf8_query(req, "message");
    ir.changes = parse_changes(req);  // bodies.cpp: also what commit takes
    auto work = [](ImageBackend& be, http::BodyStream& body, ImportRequest r, ProgressFn p) -> rt::Task<void> {
      std::string id = co_await be.import(body, std::move(r), p);
      p({{"status", id}});
    };
    co_await run_streaming(w, ps, work(b, *req.body_stream, std::move(ir), ps.sink()));
    co_return;
  }
  if (req.has_query("fromSrc")) throw invalid("importing from a URL is not supported by bocker: use fromSrc=-");
  throw invalid("POST /images/create needs fromImage (pull) or fromSrc=- (import)");
}

}  // namespace

void add_image_routes(http::Router& r, ImageBackend& b) {
  r.post(
      "/images/create",
      [&b](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> { return images_create(b, req, w); },
      http::RouteOptions{.stream_body = true});
  r.get("/images/json", [&b](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    return [](ImageBackend& be, http::Request& rq, http::ResponseWriter& wr) -> rt::Task<void> {
      nlohmann::json list = co_await be.list(rq.query_bool("all"));
      co_await wr.send(http::Response::json(200, list));
    }(b, req, w);
  });
  r.get("/images/{name:.*}/json", [&b](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    return [](ImageBackend& be, http::Request& rq, http::ResponseWriter& wr) -> rt::Task<void> {
      nlohmann::json j = co_await be.inspect(rq.param("name"));
      co_await wr.send(http::Response::json(200, j));
    }(b, req, w);
  });
  r.del("/images/{name:.*}", [&b](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    return [](ImageBackend& be, http::Request& rq, http::ResponseWriter& wr) -> rt::Task<void> {
      nlohmann::json j = co_await be.remove(rq.param("name"), rq.query_bool("force"), !rq.query_bool("noprune"));
      co_await wr.send(http::Response::json(200, j));
    }(b, req, w);
  });
  r.post("/images/{name:.*}/tag", [&b](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    return [](ImageBackend& be, http::Request& rq, http::ResponseWriter& wr) -> rt::Task<void> {
      co_await be.tag(rq.param("name"), rq.query_value("repo"), rq.query_value("tag"));
      co_await wr.send(http::Response::empty(201));
    }(b, req, w);
  });
}

}  // namespace bocker::api
