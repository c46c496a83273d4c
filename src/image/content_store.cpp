#include "bocker/image/content_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <memory>
#include <utility>

#include "bocker/image/ids.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::image {
namespace {

struct DirClose {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

// Names in `dir` except "." and ".."; an absent directory has none.
std::vector<std::string> dir_names(const std::string& dir) {
  std::unique_ptr<DIR, DirClose> d(::opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT) return {};
    throw SystemError(errno, "open directory", dir);
  }
  std::vector<std::string> out;
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d.get());
    if (e == nullptr) {
      if (errno != 0) throw SystemError(errno, "read directory", dir);
      break;
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    out.emplace_back(name);
  }
  return out;
}

bool is_hex64(std::string_view s) { return is_sha256_digest(std::string("sha256:") + std::string(s)); }

void fsync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open directory", dir);
  if (::fsync(fd.get()) != 0) throw SystemError(errno, "fsync directory", dir);
}

}  // namespace

// ---- Ingest ----

Ingest::Ingest(Ingest&& o) noexcept
    : digest_(std::move(o.digest_)),
      path_(std::move(o.path_)),
      blob_path_(std::move(o.blob_path_)),
      blobs_dir_(std::move(o.blobs_dir_)),
      expected_size_(o.expected_size_),
      offset_(o.offset_),
      fd_(std::move(o.fd_)),
      hash_(std::move(o.hash_)),
      done_(std::exchange(o.done_, true)) {}

Ingest& Ingest::operator=(Ingest&& o) noexcept {
  if (this != &o) {
    digest_ = std::move(o.digest_);
    path_ = std::move(o.path_);
    blob_path_ = std::move(o.blob_path_);
    blobs_dir_ = std::move(o.blobs_dir_);
    expected_size_ = o.expected_size_;
    offset_ = o.offset_;
    fd_ = std::move(o.fd_);  // closes (and keeps) any partial file this one held
    hash_ = std::move(o.hash_);
    done_ = std::exchange(o.done_, true);
  }
  return *this;
}

void Ingest::write(std::span<const std::byte> data) {
  if (done_ || !fd_) throw invalid("ingest of " + digest_ + ": write after commit or abort");
  if (expected_size_ >= 0 &&
      static_cast<std::uint64_t>(offset_) + data.size() > static_cast<std::uint64_t>(expected_size_)) {
    std::int64_t have = offset_;
    fail_and_discard();
    throw invalid("size mismatch for " + digest_ + ": more than the expected " +
                  std::to_string(expected_size_) + " bytes (had " + std::to_string(have) + ", got " +
                  std::to_string(data.size()) + " more)");
  }
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), offset_);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "write", path_);
    }
    auto written = data.first(static_cast<std::size_t>(n));
    hash_.update(written);
    offset_ += n;
    data = data.subspan(written.size());
  }
}

void Ingest::commit() {
  if (done_ || !fd_) throw invalid("ingest of " + digest_ + ": commit after commit or abort");
  if (expected_size_ >= 0 && offset_ != expected_size_) {
    std::int64_t got = offset_;
    fail_and_discard();
    throw invalid("size mismatch for " + digest_ + ": got " + std::to_string(got) + " bytes, expected " +
                  std::to_string(expected_size_));
  }
  std::string got = hash_.finish();
  if (got != digest_) {
    fail_and_discard();
    throw invalid("digest mismatch for " + digest_ + ": got " + got);
  }
  // The hasher is spent now: after a failure below the ingest is closed (its file kept, writable
  // again) and a later begin() re-hashes it.
  try {
    if (::fsync(fd_.get()) != 0) throw SystemError(errno, "fsync", path_);
    if (::fchmod(fd_.get(), 0444) != 0) throw SystemError(errno, "chmod", path_);
    if (::rename(path_.c_str(), blob_path_.c_str()) != 0) {
      throw SystemError(errno, "rename " + path_ + " to", blob_path_);
    }
  } catch (...) {
    (void)::fchmod(fd_.get(), 0600);
    done_ = true;
    fd_.reset();
    throw;
  }
  done_ = true;
  fd_.reset();  // releases the flock
  fsync_dir(blobs_dir_);
}

void Ingest::abort() noexcept {
  if (done_) return;
  done_ = true;
  if (!path_.empty()) ::unlink(path_.c_str());
  fd_.reset();
}

void Ingest::fail_and_discard() { abort(); }

// ---- ContentStore ----

ContentStore::ContentStore(std::string root) : ContentStore(std::move(root), Options{}) {}

ContentStore::ContentStore(std::string root, Options opts)
    : root_(std::move(root)),
      blobs_dir_(root_ + "/content/blobs/sha256"),
      ingest_dir_(root_ + "/content/ingest") {
  make_dirs(blobs_dir_, 0700);
  make_dirs(ingest_dir_, 0700);
  clean(opts);
}

void ContentStore::clean(Options opts) {
  for (const auto& name : dir_names(blobs_dir_)) {
    if (name.starts_with(".tmp-")) {
      std::string p = blobs_dir_ + "/" + name;
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "remove", p);
    }
  }
  std::time_t now = std::time(nullptr);
  for (const auto& name : dir_names(ingest_dir_)) {
    std::string p = ingest_dir_ + "/" + name;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      throw SystemError(errno, "stat", p);
    }
    bool stale = now - st.st_mtime > static_cast<std::time_t>(opts.stale_ingest_age.count());
    if (!is_hex64(name) || !S_ISREG(st.st_mode) || stale) {
      if (S_ISDIR(st.st_mode)) continue;  // not ours to remove recursively; never opened either
      // A live ingest (flocked by another process using the same root) is left alone.
      Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
      if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "remove", p);
    }
  }
}

std::string ContentStore::path(std::string_view digest) const {
  return blobs_dir_ + "/" + std::string(sha256_hex(digest));
}

bool ContentStore::has(std::string_view digest) const {
  std::string p = path(digest);
  struct stat st {};
  if (::stat(p.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT) return false;
  throw SystemError(errno, "stat", p);
}

std::int64_t ContentStore::size(std::string_view digest) const {
  std::string p = path(digest);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) throw not_found("content " + std::string(digest) + " not found");
    throw SystemError(errno, "stat", p);
  }
  return st.st_size;
}

Fd ContentStore::open(std::string_view digest) const {
  std::string p = path(digest);
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) throw not_found("content " + std::string(digest) + " not found");
    throw SystemError(errno, "open", p);
  }
  return fd;
}

std::string ContentStore::read(std::string_view digest, std::size_t limit) const {
  Fd fd = open(digest);
  std::string p = path(digest);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw SystemError(errno, "stat", p);
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    throw invalid("content " + std::string(digest) + " is " + std::to_string(st.st_size) +
                  " bytes, more than the " + std::to_string(limit) + " read() allows");
  }
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", p);
    }
    if (n == 0) throw Error("read " + p + ": file shrank while reading");
    got += static_cast<std::size_t>(n);
  }
  return out;
}

bool ContentStore::remove(std::string_view digest) {
  std::string p = path(digest);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw SystemError(errno, "remove", p);
  }
  fsync_dir(blobs_dir_);
  return true;
}

std::vector<std::string> ContentStore::list() const {
  std::vector<std::string> out;
  for (const auto& name : dir_names(blobs_dir_)) {
    if (is_hex64(name)) out.push_back("sha256:" + name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Ingest ContentStore::begin(std::string_view expected, std::int64_t expected_size) {
  std::string hex(sha256_hex(expected));
  std::string digest = "sha256:" + hex;
  Ingest in;
  in.digest_ = digest;
  in.path_ = ingest_dir_ + "/" + hex;
  in.blob_path_ = blobs_dir_ + "/" + hex;
  in.blobs_dir_ = blobs_dir_;
  in.expected_size_ = expected_size < 0 ? -1 : expected_size;
  in.done_ = true;  // nothing to abort until the file is ours
  if (has(digest)) throw conflict("content " + digest + " already exists");

  // Open and lock; if a concurrent commit renamed the file away between open and flock, try again.
  for (int attempt = 0;; ++attempt) {
    Fd fd(::open(in.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw SystemError(errno, "open", in.path_);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) throw conflict("an ingest of " + digest + " is already in progress");
      throw SystemError(errno, "lock", in.path_);
    }
    struct stat fst {
    }, pst{};
    if (::fstat(fd.get(), &fst) != 0) throw SystemError(errno, "stat", in.path_);
    bool same = ::stat(in.path_.c_str(), &pst) == 0 && pst.st_ino == fst.st_ino && pst.st_dev == fst.st_dev;
    if (!same) {
      if (attempt >= 3) throw conflict("an ingest of " + digest + " keeps being replaced");
      continue;
    }
    if (!S_ISREG(fst.st_mode)) throw invalid("ingest " + in.path_ + " is not a regular file");
    if (has(digest)) throw conflict("content " + digest + " already exists");
    in.fd_ = std::move(fd);
    in.offset_ = fst.st_size;
    break;
  }
  in.done_ = false;

  if (in.expected_size_ >= 0 && in.offset_ > in.expected_size_) {
    if (::ftruncate(in.fd_.get(), 0) != 0) throw SystemError(errno, "truncate", in.path_);
    in.offset_ = 0;
  }
  // Re-hash what an earlier attempt left, so the digest covers the whole blob.
  std::vector<std::byte> buf(256 * 1024);
  std::int64_t pos = 0;
  while (pos < in.offset_) {
    std::size_t want = static_cast<std::size_t>(std::min<std::int64_t>(in.offset_ - pos, buf.size()));
    ssize_t n = ::pread(in.fd_.get(), buf.data(), want, pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", in.path_);
    }
    if (n == 0) break;  // shorter than fstat said: continue from what is really there
    in.hash_.update(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
    pos += n;
  }
  if (pos != in.offset_) {
    if (::ftruncate(in.fd_.get(), pos) != 0) throw SystemError(errno, "truncate", in.path_);
    in.offset_ = pos;
  }
  return in;
}

std::string ContentStore::put(std::string_view data) {
  std::string digest = registry::sha256_digest(data);
  if (has(digest)) return digest;
  Ingest in = begin(digest, static_cast<std::int64_t>(data.size()));
  auto resumed = static_cast<std::size_t>(in.offset());
  try {
    in.write(data.substr(resumed));
    in.commit();
  } catch (const Error& e) {
    // A partial file from an earlier attempt that was not a prefix of `data`: commit() discarded it.
    if (resumed == 0 || e.kind() != Error::Kind::kInvalid) throw;
    Ingest fresh = begin(digest, static_cast<std::int64_t>(data.size()));
    fresh.write(data.substr(static_cast<std::size_t>(fresh.offset())));
    fresh.commit();
  }
  return digest;
}

}  // namespace bocker::image
