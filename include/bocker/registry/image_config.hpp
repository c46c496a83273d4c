// The image configuration document (OCI image config / Docker container image v1) that a manifest's
// config descriptor points at: run defaults under "config", layer diff IDs under "rootfs".
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::registry {

struct ImageConfig {
  std::string architecture, os, variant;
  std::vector<std::string> env, cmd, entrypoint;
  std::string working_dir, user;
  std::vector<std::string> exposed_ports, volumes;  // keys of the JSON objects, sorted
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::vector<std::string> diff_ids;  // validated digests, one per layer, bottom first
  std::string created;                // RFC 3339 as written; may be empty
  bool operator==(const ImageConfig&) const = default;
};

// Throws bocker::Error (kInvalid) naming the field and the reason, e.g.
// `image config: rootfs.diff_ids[1]: invalid digest "sha256:xyz": invalid hex character`.
ImageConfig parse_image_config(std::string_view body);

// The config document again (fields that were empty are left out; rootfs always written).
nlohmann::json to_json(const ImageConfig& config);

}  // namespace bocker::registry
