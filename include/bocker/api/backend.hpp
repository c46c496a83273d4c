// What the Engine API routes need from the engine. The daemon implements these interfaces;
// route tests can implement them with fakes.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "bocker/runtime/task.hpp"

namespace bocker::http {
class BodyStream;
}

namespace bocker::api {

// One message of a Docker progress stream (pull, import): {"status":…,"id":…,"progressDetail":…}.
using ProgressFn = std::function<void(const nlohmann::json&)>;

struct PullRequest {
  std::string reference;      // as the client sent it: "alpine:3.20", "localhost:5000/a/b@sha256:…"
  std::string platform;       // "" (linux/amd64) or "os/arch[/variant]"
  std::string registry_auth;  // X-Registry-Auth header: base64url JSON {"username","password","serveraddress"}
};

struct ImportRequest {
  std::string repo;  // may be empty (untagged)
  std::string tag;   // "" means "latest" when repo is set
  std::string message;
  std::vector<std::string> changes;  // Dockerfile-style "CMD ["/bin/sh"]", "ENV A=b", ...
};

class ImageBackend {
 public:
  virtual ~ImageBackend() = default;
  // Pulls an image. Errors before the first progress message are thrown (the route answers
  // with a JSON error); errors after it are thrown too and the route turns them into an
  // errorDetail message at the end of the stream.
  virtual rt::Task<void> pull(PullRequest req, ProgressFn progress) = 0;
  // A tarball (plain, gzip or zstd) of a root filesystem becomes a one-layer image.
  // Returns the image id.
  virtual rt::Task<std::string> import(http::BodyStream& body, ImportRequest req, ProgressFn progress) = 0;
  // GET /images/json
  virtual rt::Task<nlohmann::json> list(bool all) = 0;
  // GET /images/{name}/json; throws Error(kNotFound) "No such image: name".
  virtual rt::Task<nlohmann::json> inspect(std::string name) = 0;
  // DELETE /images/{name}: [{"Untagged": ref}, {"Deleted": id}, ...]
  virtual rt::Task<nlohmann::json> remove(std::string name, bool force, bool prune) = 0;
  // POST /images/{name}/tag?repo=&tag=
  virtual rt::Task<void> tag(std::string name, std::string repo, std::string tag) = 0;
  virtual int count() const = 0;
  virtual std::string driver_name() const = 0;
};

}  // namespace bocker::api

namespace bocker::http {
class ResponseWriter;
struct Request;
}  // namespace bocker::http

namespace bocker::api {

struct AttachOptions {
  bool stream = true, stdin_ = false, stdout_ = true, stderr_ = true, logs = false;
};

struct LogsOptions {
  bool follow = false, stdout_ = true, stderr_ = true, timestamps = false;
  long long since = 0;   // unix seconds; 0 = from the start
  long long until = 0;   // unix seconds; 0 = no end
  long tail = -1;        // -1 = all
};

// POST /commit
struct CommitRequest {
  std::string container;
  std::string repo, tag;  // repo "" = untagged image
  std::string comment, author;
  std::vector<std::string> changes;  // Dockerfile-style "CMD ...", "ENV A=b", ...
  nlohmann::json config;             // request body: Config fields over the container's (may be null)
  bool pause = true;                 // accepted; bocker does not freeze the container while committing
};

// POST /containers/{id}/exec body, already parsed.
struct ExecCreateRequest {
  std::vector<std::string> cmd, env;
  std::string user, working_dir, detach_keys;
  bool attach_stdin = false, attach_stdout = true, attach_stderr = true, tty = false, privileged = false;
};

class ContainerBackend {
 public:
  virtual ~ContainerBackend() = default;
  // POST /containers/create: returns {"Id","Warnings"}.
  virtual rt::Task<nlohmann::json> create(nlohmann::json body, std::string name) = 0;
  virtual rt::Task<void> start(std::string name) = 0;  // Error kConflict-ish "already started" -> caller maps
  virtual rt::Task<void> stop(std::string name, int timeout_s) = 0;
  virtual rt::Task<void> kill(std::string name, std::string signal) = 0;
  virtual rt::Task<void> pause(std::string name) = 0;    // freezes its cgroup
  virtual rt::Task<void> unpause(std::string name) = 0;  // thaws it
  // GET /containers/{id}/top: {"Titles", "Processes"} from ps(1) with `ps_args` ("" = -ef).
  virtual rt::Task<nlohmann::json> top(std::string name, std::string ps_args) = 0;
  virtual rt::Task<void> rename(std::string name, std::string new_name) = 0;
  // POST /containers/prune: removes stopped containers; {"ContainersDeleted", "SpaceReclaimed"}.
  virtual rt::Task<nlohmann::json> prune(nlohmann::json filters) = 0;
  virtual rt::Task<void> restart(std::string name, int timeout_s) = 0;
  virtual rt::Task<void> remove(std::string name, bool force, bool volumes) = 0;
  virtual rt::Task<nlohmann::json> list(bool all) = 0;
  virtual rt::Task<nlohmann::json> inspect(std::string name) = 0;
  // POST /containers/{id}/wait: sends the headers at once, the body when `condition` is met.
  virtual rt::Task<void> wait(std::string name, std::string condition, http::ResponseWriter& w) = 0;
  // POST /containers/{id}/attach: hijacks the connection.
  virtual rt::Task<void> attach(std::string name, AttachOptions opts, http::Request& req, http::ResponseWriter& w) = 0;
  // GET /containers/{id}/logs
  virtual rt::Task<void> logs(std::string name, LogsOptions opts, http::ResponseWriter& w) = 0;
  virtual rt::Task<void> resize(std::string name, int h, int w) = 0;
  // POST /containers/{id}/exec: returns the exec id. 409 when the container is not running.
  virtual rt::Task<std::string> exec_create(std::string name, ExecCreateRequest req) = 0;
  // POST /exec/{id}/start: hijacks the connection unless `detach`.
  virtual rt::Task<void> exec_start(std::string exec_id, bool detach, http::Request& req, http::ResponseWriter& w) = 0;
  // GET /exec/{id}/json
  virtual rt::Task<nlohmann::json> exec_inspect(std::string exec_id) = 0;
  virtual rt::Task<void> exec_resize(std::string exec_id, int h, int w) = 0;
  // GET /containers/{id}/stats: one JSON document, or one per second when `stream`.
  virtual rt::Task<void> stats(std::string name, bool stream, bool one_shot, http::ResponseWriter& w) = 0;
  // POST /commit: returns the new image id ("sha256:…").
  virtual rt::Task<std::string> commit(CommitRequest req) = 0;
  virtual int count_running() const = 0;  // paused ones included, as docker counts them
  virtual int count_paused() const = 0;
  virtual int count_all() const = 0;
};

}  // namespace bocker::api
