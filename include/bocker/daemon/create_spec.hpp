// POST /containers/create, validated without side effects: the request body (and ?name=) in, a
// CreateSpec out, or Error(kInvalid) (a 400) naming the field and the value. ContainerService::
// create() calls parse_create() before it creates anything, so a hostile body changes nothing;
// the fuzz target tests/fuzz/fuzz_api_bodies.cpp and tests/daemon/create_spec_test.cpp call the
// same function without a daemon.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bocker/api/backend.hpp"
#include "bocker/cgroup/limits.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/volume/mounts.hpp"

namespace bocker::daemon {

struct CreateSpec {
  std::string name;                        // without the leading '/'; "" = the daemon picks one
  std::string image;                       // Config.Image as the client sent it
  nlohmann::json config;                   // Docker's Config: the request's fields over the image's
  nlohmann::json host_config;              // HostConfig as sent (every field bocker reads checked)
  std::vector<std::string> argv;           // Entrypoint + Cmd, never empty
  cgroup::Limits limits;                   // what start() writes to the cgroup
  std::string network_mode;                // "default", "bridge", "none" or "host"
  std::vector<volume::MountPoint> mounts;  // planned (volume::plan); nothing created yet
};

// The mounts of a --volumes-from container, or Error(kInvalid) when there is none (a 404 would
// make the CLI pull the image).
using MountsOf = std::function<std::vector<volume::MountPoint>(const std::string&)>;

// "?name=": strips one leading '/', checks [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}. "" stays "".
std::string create_name(std::string name);
// Config.Image: a non-empty string (checked before the image is looked up).
std::string create_image(const nlohmann::json& body);

// Pure: every check of the create body that needs no daemon state. `image` is the config of the
// image Config.Image resolved to (its defaults fill Env, Cmd, Entrypoint, WorkingDir, User and
// its volumes become anonymous volumes); `mounts_of` answers --volumes-from. Throws only
// bocker::Error (kInvalid, or what `mounts_of` throws).
CreateSpec parse_create(const nlohmann::json& body, std::string name, const registry::ImageConfig& image,
                        const MountsOf& mounts_of);

// POST /commit, the checks that need no container (api::parse_commit did the types): returns the
// reference to tag ("" = untagged). Error(kInvalid) for a bad or digest reference, a tag without a
// repository, a body that is not an object, a change that is not supported or malformed.
std::string commit_reference(const api::CommitRequest& req);

}  // namespace bocker::daemon
