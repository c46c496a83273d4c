// Image references with Docker's normalization rules:
//   busybox                      -> docker.io/library/busybox:latest
//   user/img                     -> docker.io/user/img:latest
//   localhost:5000/a/b:tag       -> localhost:5000/a/b:tag
//   name@sha256:<hex>            -> docker.io/library/name@sha256:<hex>   (no tag added)
// The first path component is a registry host when it contains '.' or ':', is "localhost", or has
// an uppercase letter; otherwise the reference is on docker.io.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bocker::registry {

inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kDefaultTag = "latest";
inline constexpr std::size_t kNameTotalLengthMax = 255;

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "[::1]:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "latest"; empty when only a digest was given
  std::string digest;  // "sha256:..."; may be empty

  std::string name() const { return domain + "/" + path; }  // docker.io/library/busybox
  std::string str() const;                                  // docker.io/library/busybox:latest[@sha256:...]
  std::string familiar() const;       // busybox:latest, user/img:tag, localhost:5000/a:b
  std::string familiar_name() const;  // busybox, user/img, localhost:5000/a
  // Host to send registry API calls to: docker.io -> registry-1.docker.io, others unchanged.
  std::string api_host() const;
  bool operator==(const Reference&) const = default;
};

// Parses and normalizes a reference. Throws bocker::Error (kInvalid) with a message such as
// `invalid reference format: repository name must be lowercase: "Busybox"`.
Reference parse_reference(std::string_view text);

// docker.io and index.docker.io map to registry-1.docker.io; anything else is returned as is.
std::string registry_api_host(std::string_view domain);

// Tag grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
bool is_valid_tag(std::string_view tag);

}  // namespace bocker::registry
