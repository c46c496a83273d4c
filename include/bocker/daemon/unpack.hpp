// The worker-side half of a layer pull or import: compressed bytes in, a verified layer out.
// bytes -> SHA-256 of the compressed stream -> inflate (isa-l / zstd) -> SHA-256 of the tar
// (the diff_id) -> tar reader -> safe extractor into the layer directory.
// Not thread-safe: one unpacker is fed by one job at a time (the loop serialises the feeds).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "bocker/image/decompress.hpp"
#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/registry/digest.hpp"
#include "bocker/registry/manifest.hpp"
#include "bocker/storage/driver.hpp"

namespace bocker::daemon {

class LayerUnpacker {
 public:
  // `layer_dir` is the open directory the storage driver gave for the new layer. `compression`
  // nullopt: detect it from the first bytes.
  LayerUnpacker(int layer_dir, image::WhiteoutMode whiteouts, std::optional<registry::Compression> compression);
  LayerUnpacker(const LayerUnpacker&) = delete;
  LayerUnpacker& operator=(const LayerUnpacker&) = delete;

  void feed(std::span<const std::byte> compressed);
  // Ends the stream; throws when the compressed or tar stream is cut short.
  void finish();

  // After feed() or finish() threw: keeps hashing the rest of the compressed stream (nothing is
  // inflated or extracted), so the caller can tell a corrupt download (digest mismatch) from a
  // malformed layer. finish_hash() ends that and returns the digest of everything fed.
  void hash_only(std::span<const std::byte> compressed);
  std::string finish_hash();

  std::string compressed_digest() const { return compressed_digest_; }  // after finish()
  std::string diff_id() const { return diff_id_; }                        // after finish()
  std::uint64_t compressed_bytes() const noexcept { return compressed_bytes_; }
  std::uint64_t uncompressed_bytes() const noexcept { return uncompressed_bytes_; }
  const image::ExtractStats& stats() const noexcept { return extractor_.stats(); }

 private:
  void start(std::span<const std::byte> first);
  void on_tar_bytes(std::span<const std::byte> tar);

  std::optional<registry::Compression> compression_;
  std::unique_ptr<image::Decompressor> inflater_;
  registry::Sha256 compressed_hash_;
  registry::Sha256 tar_hash_;
  image::LayerExtractor extractor_;
  image::TarReader reader_;
  std::string compressed_digest_;
  std::string diff_id_;
  std::uint64_t compressed_bytes_ = 0;
  std::uint64_t uncompressed_bytes_ = 0;
  bool started_ = false;
};

// Blocking: unpacks the tar spooled in `fd` (`path` for errors) as layer `layer_id` on `parent`
// ("" = base layer) unless the driver has it already (then returns empty stats). The unpacked
// stream must hash to `diff_id`; any failure aborts the begun layer. `what` prefixes errors
// ("import", "commit").
image::ExtractStats unpack_spooled_layer(storage::Driver& driver, const std::string& layer_id,
                                         const std::string& parent, int fd, const std::string& path,
                                         std::optional<registry::Compression> compression,
                                         const std::string& diff_id, const std::string& what);

}  // namespace bocker::daemon
