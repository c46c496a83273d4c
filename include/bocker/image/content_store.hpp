// Content-addressed blob store: <root>/content/blobs/sha256/<hex>, written through resumable ingests in
// <root>/content/ingest/<hex>. A blob only appears under blobs/ after its size and SHA-256 were checked
// and it was fsynced, so a crash leaves at most a partial ingest (which a later begin() resumes).
// Blocking: call from worker threads. Distinct digests may be ingested from different threads at once;
// a second concurrent ingest of the same digest fails with kConflict (the first holds a flock).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::image {

class ContentStore;

// One blob being written. Move-only. Destroying an uncommitted ingest closes it and keeps the
// partial file for a later resume, unless abort() was called.
class Ingest {
 public:
  Ingest(Ingest&& o) noexcept;
  Ingest& operator=(Ingest&& o) noexcept;
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;
  ~Ingest() = default;

  const std::string& digest() const noexcept { return digest_; }
  std::int64_t expected_size() const noexcept { return expected_size_; }
  // Bytes written so far, including those kept from an interrupted earlier attempt: the caller
  // continues the download from here (e.g. an HTTP Range request).
  std::int64_t offset() const noexcept { return offset_; }

  // Appends bytes. Throws kInvalid when they would exceed the expected size (the ingest is then
  // discarded), SystemError on I/O failure.
  void write(std::span<const std::byte> data);
  void write(std::string_view data) { write(std::as_bytes(std::span(data.data(), data.size()))); }

  // Checks size and digest, fsyncs, renames into blobs/ and fsyncs the directory. On a mismatch the
  // partial file is removed and bocker::Error(kInvalid) "digest mismatch for sha256:...: got sha256:..."
  // (or "size mismatch ...") is thrown; nothing appears in blobs/. If another writer committed the same
  // blob meanwhile, the existing blob is kept.
  void commit();
  // Removes the partial file. Safe to call more than once.
  void abort() noexcept;

 private:
  friend class ContentStore;
  Ingest() = default;
  void fail_and_discard();

  std::string digest_;
  std::string path_;       // ingest file
  std::string blob_path_;  // destination
  std::string blobs_dir_;
  std::int64_t expected_size_ = -1;
  std::int64_t offset_ = 0;
  Fd fd_;
  registry::Sha256 hash_;
  bool done_ = false;
};

class ContentStore {
 public:
  static constexpr std::size_t kDefaultReadLimit = 16 * 1024 * 1024;

  struct Options {
    // Ingests untouched for longer than this are removed at open (abandoned downloads).
    std::chrono::seconds stale_ingest_age = std::chrono::hours(24);
  };

  // Creates <root>/content/{blobs/sha256,ingest} as needed; removes leftover temp files and stale
  // or misnamed ingests.
  explicit ContentStore(std::string root);
  ContentStore(std::string root, Options opts);

  // All digest arguments must be "sha256:<64 lowercase hex>"; anything else throws kInvalid before
  // any file is touched.
  bool has(std::string_view digest) const;
  std::int64_t size(std::string_view digest) const;  // kNotFound when absent
  // Whole blob; kInvalid when larger than `limit` (use open() for layers), kNotFound when absent.
  std::string read(std::string_view digest, std::size_t limit = kDefaultReadLimit) const;
  Fd open(std::string_view digest) const;           // O_RDONLY|O_CLOEXEC; kNotFound when absent
  bool remove(std::string_view digest);             // false when it was not there
  std::vector<std::string> list() const;            // digests, sorted
  std::string path(std::string_view digest) const;  // where the blob lives (whether or not present)

  // Starts or resumes writing `expected`. `expected_size` < 0 means unknown. An existing partial
  // ingest is re-hashed and continued (offset() > 0); one longer than expected_size is restarted.
  // Throws kConflict when the blob already exists or another ingest of it is in progress.
  Ingest begin(std::string_view expected, std::int64_t expected_size);

  // Convenience for small blobs (configs, manifests): writes and commits `data`, returns its digest.
  // An existing identical blob is left as it is.
  std::string put(std::string_view data);

  const std::string& root() const noexcept { return root_; }

 private:
  void clean(Options opts);

  std::string root_;
  std::string blobs_dir_;   // <root>/content/blobs/sha256
  std::string ingest_dir_;  // <root>/content/ingest
};

}  // namespace bocker::image
