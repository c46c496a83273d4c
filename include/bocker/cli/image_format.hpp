// What the image commands print and send: the `bocker images` table, docker's relative times and
// image sizes, and image references split the way the Engine API takes them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace bocker::cli {

// Docker's `units.HumanDuration`: "Less than a second", "About a minute", "5 minutes",
// "About an hour", "3 hours", "4 days", "3 weeks", "5 months", "2 years".
std::string human_duration(std::int64_t seconds);

// Image sizes like `docker images`: decimal units, 3 significant digits ("7.8MB", "123MB", "1.2GB").
std::string image_size(double bytes);

// "sha256:0123456789abcdef..." -> "0123456789ab".
std::string short_image_id(std::string_view id);

struct ImageListOptions {
  bool quiet = false;     // -q: only the ids, one per image
  bool digests = false;   // --digests: a DIGEST column
  bool no_trunc = false;  // --no-trunc: whole "sha256:..." ids
  std::string format;     // --format: "json", "{{json .}}" or a {{.Field}} template; "" or "table": the table
  std::string reference;  // REPOSITORY[:TAG] argument; '*' and '?' match like a shell glob
};

// Renders the answer of GET /images/json like `docker images`, newest first. `now` is the current
// time in unix seconds (for the CREATED column). Throws UsageError for an unsupported --format.
std::string format_image_list(const nlohmann::json& images, const ImageListOptions& opts, std::int64_t now);

// A reference as the Engine API takes it: "alpine" -> {"docker.io/library/alpine", "latest",
// "docker.io/library/alpine:latest"}; "alpine@sha256:..." -> {..., "sha256:...", "...@sha256:..."}.
struct ApiReference {
  std::string name;       // fromImage / repo
  std::string tag;        // tag, or the digest when one was given
  std::string canonical;  // what `pull` prints last
};
// Throws bocker::Error (kInvalid) "invalid reference format: ..." for a malformed reference.
ApiReference api_reference(std::string_view text);

// A path segment for /images/{name}/...: names keep '/', ':' and '@'; other unsafe bytes are escaped.
std::string image_path(std::string_view name);

}  // namespace bocker::cli
