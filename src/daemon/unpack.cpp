#include "bocker/daemon/unpack.hpp"

#include <cerrno>

#include <vector>

#include <unistd.h>

#include "bocker/runtime/error.hpp"

namespace bocker::daemon {

LayerUnpacker::LayerUnpacker(int layer_dir, image::WhiteoutMode whiteouts,
                             std::optional<registry::Compression> compression)
    : compression_(compression),
      // The layer is synced when committed: its writeback starts while it is still extracting.
      extractor_(layer_dir, image::ExtractOptions{.whiteouts = whiteouts, .start_writeback = true}),
      reader_(extractor_) {}

void LayerUnpacker::start(std::span<const std::byte> first) {
  if (!compression_) compression_ = image::detect_compression(first);
  inflater_ = image::make_decompressor(*compression_);
  started_ = true;
}

void LayerUnpacker::on_tar_bytes(std::span<const std::byte> tar) {
  uncompressed_bytes_ += tar.size();
  tar_hash_.update(tar);
  reader_.feed(tar);
}

void LayerUnpacker::feed(std::span<const std::byte> compressed) {
  if (compressed.empty()) return;
  compressed_bytes_ += compressed.size();
  compressed_hash_.update(compressed);  // first: hash_only() after a throw below goes on from here
  if (!started_) start(compressed);
  inflater_->feed(compressed, [this](std::span<const std::byte> tar) { on_tar_bytes(tar); });
}

void LayerUnpacker::hash_only(std::span<const std::byte> compressed) {
  compressed_bytes_ += compressed.size();
  compressed_hash_.update(compressed);
}

std::string LayerUnpacker::finish_hash() {
  if (compressed_digest_.empty()) compressed_digest_ = compressed_hash_.finish();
  return compressed_digest_;
}

void LayerUnpacker::finish() {
  if (!started_) throw invalid("layer stream is empty");
  inflater_->finish();
  reader_.finish();
  compressed_digest_ = compressed_hash_.finish();
  diff_id_ = tar_hash_.finish();
}

image::ExtractStats unpack_spooled_layer(storage::Driver& driver, const std::string& layer_id,
                                         const std::string& parent, int fd, const std::string& path,
                                         std::optional<registry::Compression> compression,
                                         const std::string& diff_id, const std::string& what) {
  if (driver.has_layer(layer_id)) {
    driver.sync_layers(layer_id);  // a pull may have committed it unsynced: durable before a record names it
    return image::ExtractStats{};
  }
  Fd dir = driver.begin_layer(layer_id, parent);
  try {
    LayerUnpacker up(dir.get(), driver.whiteout_mode(), compression);
    std::vector<char> buf(1 << 20);
    off_t off = 0;
    for (;;) {
      ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw SystemError(errno, "read", path);
      if (n == 0) break;
      up.feed(std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n))));
      off += n;
    }
    up.finish();
    if (up.diff_id() != diff_id) throw Error(what + ": the spooled layer changed while it was unpacked");
    dir.reset();
    driver.commit_layer(layer_id);
    return up.stats();
  } catch (...) {
    dir.reset();
    driver.abort_layer(layer_id);
    throw;
  }
}

}  // namespace bocker::daemon
