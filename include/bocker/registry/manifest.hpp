// Registry manifest documents: Docker schema2 manifests and manifest lists, OCI manifests and indexes.
// Schema1 is rejected. Parsing validates every descriptor (media type, digest, size) and the layer
// media types we can unpack; platform selection follows Docker's matching of os/architecture/variant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bocker::registry {

namespace media {
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
// Uncompressed and zstd layers under Docker's media types (docker save/load, containerd's zstd).
inline constexpr std::string_view kDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNondist =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciLayerNondistGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciLayerNondistZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
// Value of an Accept header that asks for every manifest type parse_manifest() understands.
inline constexpr std::string_view kAcceptManifests =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
}  // namespace media

inline constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64"
  std::string variant;       // "v8", may be empty
  std::string str() const;   // "linux/arm64/v8", "linux/amd64"
  bool operator==(const Platform&) const = default;
};

// "linux", "linux/arm64", "linux/arm64/v8"; normalizes aliases (x86_64 -> amd64, aarch64 -> arm64,
// armhf -> arm/v7) and lowercases. An os alone gets the host architecture. Throws kInvalid.
Platform parse_platform(std::string_view text);
// Normalized copy of `p` (architecture aliases, lowercase, arm64 "8" -> "v8").
Platform normalize_platform(Platform p);
// linux/<host architecture>: linux/amd64 on x86-64, linux/arm64/v8 on aarch64.
Platform default_platform();
// Whether an index entry for `have` can run `want` (arm64 v8 == arm64 without variant, amd64 without
// variant == amd64/v1, arm without variant == arm/v7; an empty wanted variant accepts any).
bool platform_matches(const Platform& want, const Platform& have);

struct Descriptor {
  std::string media_type;
  std::string digest;  // validated "sha256:..." (or sha384/sha512)
  std::int64_t size = 0;
  std::optional<Platform> platform;  // index entries only
  std::vector<std::string> urls;
};

enum class Compression { None, Gzip, Zstd };

// Compression of a layer by media type. Throws bocker::Error (kUnsupported) for an unknown type.
Compression layer_compression(std::string_view media_type);
bool is_supported_layer_type(std::string_view media_type);

struct Manifest {
  std::string media_type;  // kDockerManifest or kOciManifest
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct Index {
  std::string media_type;  // kDockerManifestList or kOciIndex
  std::vector<Descriptor> manifests;
};

// Parses a manifest body. The media type is the document's "mediaType" when present, else the
// Content-Type (parameters dropped); an OCI document with neither is recognised by its shape.
// Throws bocker::Error: kInvalid for malformed or ambiguous documents, kUnsupported for schema1,
// unknown manifest, config or layer media types.
std::variant<Manifest, Index> parse_manifest(std::string_view body, std::string_view content_type);

// The first image-manifest entry matching `want` (exact variant preferred). Throws kNotFound
// "no matching manifest for linux/amd64 in the manifest list entries".
const Descriptor& choose_platform(const Index& index, const Platform& want = default_platform());

}  // namespace bocker::registry
