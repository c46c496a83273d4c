// Streaming decompressors for image layers: gzip through isa-l's igzip inflate, zstd through
// ZSTD_decompressStream, and a pass-through for uncompressed tars. Blocking, CPU-bound: run them on a
// worker thread. One object decompresses one stream; it is not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "bocker/registry/manifest.hpp"

namespace bocker::image {

using Compression = registry::Compression;  // None, Gzip, Zstd

std::string_view compression_name(Compression c);  // "none", "gzip", "zstd"

// Compression recognised from the first bytes of a stream by magic number: gzip 1f 8b, zstd frame
// 28 b5 2f fd or a zstd skippable frame 5? 2a 4d 18. Anything else (including too few bytes) is None.
Compression detect_compression(std::span<const std::byte> first);

class Decompressor {
 public:
  using Sink = std::function<void(std::span<const std::byte>)>;
  virtual ~Decompressor() = default;

  // Decompresses `in` and hands every produced piece to `out` (pieces are only valid during the
  // call). Throws bocker::Error(kInvalid) "gzip stream: ..." / "zstd stream: ..." for corrupt input;
  // exceptions thrown by `out` pass through. After an exception the object must not be fed again.
  virtual void feed(std::span<const std::byte> in, const Sink& out) = 0;
  // Declares the end of the input; throws bocker::Error(kInvalid) when the stream is cut short.
  virtual void finish() = 0;

  std::uint64_t bytes_in() const noexcept { return bytes_in_; }
  std::uint64_t bytes_out() const noexcept { return bytes_out_; }

 protected:
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

// Gzip accepts concatenated members (as `gzip -dc` does) and trailing NUL padding after a complete
// member; anything else after a member is an error. Zstd accepts concatenated and skippable frames.
// An empty gzip or zstd stream is an error.
std::unique_ptr<Decompressor> make_decompressor(Compression c);

}  // namespace bocker::image
