// Request bodies of the container routes, parsed without side effects: the create body (checked
// further by the daemon, see bocker/daemon/create_spec.hpp), the exec create body and the commit
// query and body. Bad input is Error(kInvalid) (a 400) naming the field; nothing else is thrown.
// The routes (routes_containers.cpp), tests/api/bodies_test.cpp and the fuzz target
// tests/fuzz/fuzz_api_bodies.cpp call these.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/api/backend.hpp"
#include "bocker/http/request.hpp"

namespace bocker::api {

// POST /containers/create: a JSON object.
nlohmann::json parse_create_body(std::string_view body);

// POST /containers/{id}/exec: Cmd (a string or strings, non-empty), Env (KEY=VALUE strings),
// User, WorkingDir, DetachKeys (strings), Attach*, Tty, Privileged (booleans). An empty body is {}.
ExecCreateRequest parse_exec_create(std::string_view body);

// POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=: the query as the router
// parsed it (`changes` may repeat and hold several lines) and the body (Config fields over the
// container's: Env, Cmd, Entrypoint, OnBuild as strings; WorkingDir, User, StopSignal strings;
// ExposedPorts, Volumes, Labels, Healthcheck objects). A string Cmd/Entrypoint/Env becomes a
// one-element list.
CommitRequest parse_commit(const http::Request& req);

// The `changes` query values of commit and import: one change per value or per line of a value,
// trailing blanks and CR dropped, blank lines skipped. Error(kInvalid) for bytes that are not UTF-8
// or a NUL (the changes end up in a JSON image config).
std::vector<std::string> parse_changes(const http::Request& req);
// A query value that goes into a JSON document: Error(kInvalid) unless UTF-8 without NUL.
std::string utf8_query(const http::Request& req, std::string_view key);

}  // namespace bocker::api
