// Image metadata: one JSON record per image at <root>/images/<hex>.json and a tag index
// <root>/images/repositories.json mapping canonical references to image ids, e.g.
//   {"docker.io/library/alpine:latest": "sha256:..."}.
// The image id is the digest of the raw config blob. Records are written (atomically) before the tag
// index, so a crash leaves at worst an untagged ("dangling", docker's <none>) image. The tag index is
// the source of truth for repo_tags: records do not store them. At open, leftover temp files are
// removed, a corrupt record is reported through the warning callback and skipped, and index entries
// that name no loaded image are dropped.
// Thread-safe (one mutex); blocking: call from worker threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::image {

struct ImageRecord {
  std::string id;           // "sha256:<hex>" = digest of config_json
  std::string config_json;  // the raw config blob, byte for byte
  std::vector<std::string> diff_ids;
  std::vector<std::string> chain_ids;      // computed from diff_ids when empty
  std::vector<std::string> layer_digests;  // compressed blobs; empty for imported/committed images
  std::vector<std::string> repo_tags;      // canonical "docker.io/library/alpine:latest", sorted
  std::vector<std::string> repo_digests;   // canonical "docker.io/library/alpine@sha256:..."
  std::int64_t created = 0;                // unix seconds
  std::int64_t size = 0;                   // bytes of the unpacked layers
  std::string manifest_digest;             // may be empty
  bool operator==(const ImageRecord&) const = default;
};

class ImageStore {
 public:
  using Warn = std::function<void(const std::string&)>;

  // Loads <root>/images (created if missing). `warn` receives one line per skipped or repaired item.
  explicit ImageStore(std::string root, Warn warn = {});

  // Stores (or replaces) an image. Validates the id against sha256(config_json), every digest, and
  // chain_ids against diff_ids (computing them when empty). Every ref in repo_tags is tagged to this
  // image (moved from another image if needed); tags the image already had are kept. Throws kInvalid.
  void put(ImageRecord rec);

  std::optional<ImageRecord> find(std::string_view id) const;
  ImageRecord get(std::string_view id) const;  // kNotFound "No such image: <id>"
  std::vector<ImageRecord> list() const;       // newest first, then by id
  std::size_t count() const;

  // Points `ref` (normalised: "alpine" -> "docker.io/library/alpine:latest") at image `id`. An image
  // that loses the tag stays, untagged. Returns the canonical ref. kInvalid for a digest reference or
  // a malformed one, kNotFound for an unknown id.
  std::string tag(std::string_view id, std::string_view ref);
  // Removes a tag; returns the id it pointed at. kNotFound when the tag does not exist.
  std::string untag(std::string_view ref);

  // Deletes the image and every tag pointing at it. Returns the chain ids the deleted image used that
  // no remaining image uses (layers the caller may free), bottom layer first. kNotFound when absent.
  std::vector<std::string> remove(std::string_view id);

  // Resolves, in Docker's order: a full id ("sha256:<64 hex>" or 64 bare hex); a reference through
  // the tag index (or a name@digest through repo_digests); an id prefix ("sha256:<hex prefix>" or bare
  // lowercase hex, at least 1 digit). kNotFound "No such image: <name>"; an ambiguous prefix is kInvalid
  // "multiple IDs found with provided prefix: <prefix>" (Docker answers 400 there too).
  std::string resolve(std::string_view name_or_id) const;

  // All canonical tags, ref -> id.
  std::map<std::string, std::string> tags() const;

 private:
  void load();
  void save_index_locked();
  void write_record_locked(const ImageRecord& rec);
  ImageRecord with_tags_locked(const ImageRecord& rec) const;
  std::string resolve_locked(std::string_view name_or_id) const;
  std::string record_path(std::string_view id) const;
  void warn(const std::string& msg) const;

  std::string dir_;
  Warn warn_;
  mutable std::mutex mu_;
  std::map<std::string, ImageRecord, std::less<>> images_;  // repo_tags not filled here
  std::map<std::string, std::string, std::less<>> tags_;    // canonical ref -> id
};

}  // namespace bocker::image
