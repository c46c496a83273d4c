// Layer extraction confined to a root directory with openat2(RESOLVE_IN_ROOT).
#include "bocker/image/extract.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kOpaque = ".wh..wh..opq";
// start_writeback: a range of a file is handed to the disk once this much of it is written; a
// file's rest at its end unless the whole file is smaller (those are left to the later syncfs).
constexpr std::uint64_t kWritebackStep = 4 << 20;
constexpr std::uint64_t kWritebackMinFile = 256 << 10;

// Starts writeback of [from, to) of fd and does not wait for it. Only a hint: failures are
// ignored (the syncfs that makes the layer durable reports I/O errors).
void start_writeback(int fd, std::uint64_t from, std::uint64_t to) {
  if (to <= from) return;
  (void)::sync_file_range(fd, static_cast<off_t>(from), static_cast<off_t>(to - from), SYNC_FILE_RANGE_WRITE);
}

// openat2 below root with every component (symlinks and ".." included) resolved inside it.
int openat2_in_root(int root, const std::string& path, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = path.empty() ? "." : path.c_str();
  for (int tries = 0;; ++tries) {
    long fd = ::syscall(SYS_openat2, root, p, &how, sizeof how);
    // EAGAIN: a concurrent rename raced the resolution; the kernel asks us to retry.
    if (fd < 0 && (errno == EINTR || (errno == EAGAIN && tries < 16))) continue;
    return static_cast<int>(fd);
  }
}

std::string join(const std::string& dir, std::string_view base) {
  return dir.empty() ? std::string(base) : dir + "/" + std::string(base);
}

void split(const std::string& path, std::string& dir, std::string& base) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    dir.clear();
    base = path;
  } else {
    dir = path.substr(0, slash);
    base = path.substr(slash + 1);
  }
}

std::string proc_path(int dir_fd, const std::string& base) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + base;
}

struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

// Names in a directory (no "." / ".."). dir_fd is not consumed.
std::vector<std::string> list_dir(int dir_fd, const std::string& what, const std::string& op) {
  Fd dup(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dup) throw SystemError(errno, op + "dup directory fd of", what);
  std::unique_ptr<DIR, DirCloser> d(::fdopendir(dup.get()));
  if (!d) throw SystemError(errno, op + "fdopendir", what);
  (void)dup.release();  // owned by DIR now
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  if (errno != 0) throw SystemError(errno, op + "readdir", what);
  return names;
}

}  // namespace

bool normalize_entry_path(std::string_view name, std::string& out) {
  out.clear();
  if (name.starts_with('/')) return false;
  std::vector<std::string_view> parts;
  while (!name.empty()) {
    auto slash = name.find('/');
    std::string_view c = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view{} : name.substr(slash + 1);
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  for (auto c : parts) {
    if (!out.empty()) out += '/';
    out += c;
  }
  return true;
}

std::vector<std::string> sorted_entries(Fd dir_fd, const std::string& what, const std::string& op) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(dir_fd.get()), ::closedir);
  if (!dir) throw SystemError(errno, op + "fdopendir", what);
  (void)dir_fd.release();
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(dir.get())) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  if (errno != 0) throw SystemError(errno, op + "readdir", what);
  std::sort(names.begin(), names.end());
  return names;
}

void remove_tree_at(int dir_fd, const std::string& name, const std::string& what, const std::string& op) {
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  const int unlink_err = errno;
  if (unlink_err != EISDIR && unlink_err != EPERM) throw SystemError(unlink_err, op + "unlinkat", what);
  Fd d(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d) {
    if (errno == ENOENT) return;
    // Not a directory after all: the unlink failure is the real error.
    if (errno == ENOTDIR || errno == ELOOP) throw SystemError(unlink_err, op + "unlinkat", what);
    throw SystemError(errno, op + "open directory to remove", what);
  }
  for (const auto& child : list_dir(d.get(), what, op))
    remove_tree_at(d.get(), child, what + "/" + child, op);
  d.reset();
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    throw SystemError(errno, op + "rmdir", what);
  }
}

LayerExtractor::LayerExtractor(int root_fd, ExtractOptions opts)
    : root_(root_fd), opts_(opts), is_root_(::geteuid() == 0) {}

void LayerExtractor::warn(std::string msg) {
  if (stats_.warnings.size() < 32) stats_.warnings.push_back(std::move(msg));
}

// Opens directory `path` (resolved inside the root), creating missing components with mode 0755
// as Docker does. Returns an O_PATH descriptor.
Fd LayerExtractor::open_dir(const std::string& path, bool create, const std::string& entry) {
  Fd fd(openat2_in_root(root_, path, O_PATH | O_DIRECTORY));
  if (fd) return fd;
  int err = errno;
  if (err == ENOENT && create && !path.empty()) {
    std::string dir, base;
    split(path, dir, base);
    Fd parent = open_dir(dir, true, entry);
    if (::mkdirat(parent.get(), base.c_str(), 0755) == 0) {
      layer_.emplace(path, tar_type::kDirectory);
    } else if (errno != EEXIST) {
      throw SystemError(errno, "extract entry '" + entry + "': mkdirat parent", path);
    }
    fd.reset(openat2_in_root(root_, path, O_PATH | O_DIRECTORY));
    if (fd) return fd;
    err = errno;
  }
  if (err == ENOTDIR || err == ENOENT || err == ELOOP) {
    throw invalid("extract entry '" + entry + "': parent '" + path +
                  "' is not a directory inside the layer root (" + errno_text(err) + ")");
  }
  throw SystemError(err, "extract entry '" + entry + "': openat2", path);
}

// Makes room for a new object `base` in parent: keeps an existing directory when keep_dir, removes
// anything else (a directory with its whole subtree).
void LayerExtractor::remove_existing(int parent, const std::string& base, const std::string& path,
                                     bool keep_dir) {
  const std::string& entry = entry_;
  struct stat st {};
  if (::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw SystemError(errno, "extract entry '" + entry + "': fstatat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return;
    remove_tree_at(parent, base, path, "extract entry '" + entry + "': ");
  } else if (::unlinkat(parent, base.c_str(), 0) != 0 && errno != ENOENT) {
    throw SystemError(errno, "extract entry '" + entry + "': unlinkat", path);
  }
}

void LayerExtractor::on_entry(const TarHeader& h) {
  ++stats_.entries;
  entry_ = h.name;
  discard_ = false;
  file_.reset();
  std::string path;
  if (!normalize_entry_path(h.name, path)) {
    throw invalid("extract entry '" + h.name + "': path is absolute or escapes the layer root");
  }
  if (path.empty()) {  // "." or "./": the layer root itself is not changed
    discard_ = true;
    return;
  }
  std::string dir, base;
  split(path, dir, base);
  if (base.starts_with(kWhiteoutPrefix) && opts_.whiteouts != WhiteoutMode::kKeep) {
    discard_ = true;
    apply_whiteout(dir, base);
    return;
  }

  Fd parent = open_dir(dir, true, entry_);
  const int p = parent.get();
  const std::string op = "extract entry '" + entry_ + "': ";
  switch (h.type) {
    case tar_type::kDirectory: {
      remove_existing(p, base, path, /*keep_dir=*/true);
      if (::mkdirat(p, base.c_str(), 0700) != 0 && errno != EEXIST)
        throw SystemError(errno, op + "mkdirat", path);
      Fd d(::openat(p, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!d) throw SystemError(errno, op + "open directory", path);
      apply_meta(h, d.get(), p, base, path);
      dir_times_.push_back({path, h.mtime_sec, h.mtime_nsec});
      ++stats_.dirs;
      break;
    }
    case tar_type::kRegular: {
      remove_existing(p, base, path, false);
      file_.reset(::openat(p, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!file_) throw SystemError(errno, op + "create file", path);
      file_written_ = 0;
      file_kicked_ = 0;
      pending_ = h;
      ++stats_.files;
      break;
    }
    case tar_type::kSymlink: {
      remove_existing(p, base, path, false);
      if (::symlinkat(h.linkname.c_str(), p, base.c_str()) != 0)
        throw SystemError(errno, op + "symlinkat", path);
      apply_meta(h, -1, p, base, path);
      ++stats_.symlinks;
      break;
    }
    case tar_type::kHardlink:
      make_hardlink(h, path, p, base);
      ++stats_.hardlinks;
      break;
    case tar_type::kFifo:
    case tar_type::kChar:
    case tar_type::kBlock: {
      const bool device = h.type != tar_type::kFifo;
      if (device && !opts_.devices) {
        ++stats_.skipped_devices;
        warn("skipped device " + path + " (devices disabled)");
        return;
      }
      remove_existing(p, base, path, false);
      mode_t kind = h.type == tar_type::kFifo ? S_IFIFO : h.type == tar_type::kChar ? S_IFCHR : S_IFBLK;
      if (::mknodat(p, base.c_str(), kind | 0600, makedev(h.devmajor, h.devminor)) != 0) {
        if (device && errno == EPERM) {
          ++stats_.skipped_devices;
          warn("skipped device " + path + ": mknodat: " + errno_text(EPERM));
          return;
        }
        throw SystemError(errno, op + "mknodat", path);
      }
      apply_meta(h, -1, p, base, path);
      ++stats_.specials;
      break;
    }
    default:
      throw invalid(op + "unsupported entry type '" + std::string(1, h.type) + "'");
  }
  layer_[path] = h.type;
}

void LayerExtractor::make_hardlink(const TarHeader& h, const std::string& path, int parent,
                                   const std::string& base) {
  const std::string op = "extract entry '" + entry_ + "': ";
  std::string target;
  if (!normalize_entry_path(h.linkname, target) || target.empty()) {
    throw invalid(op + "hardlink target '" + h.linkname + "' is absolute or escapes the layer root");
  }
  auto it = layer_.find(target);
  if (it == layer_.end() || it->second == tar_type::kDirectory) {
    throw invalid(op + "hardlink target '" + h.linkname + "' is not a file extracted earlier in this layer");
  }
  if (target == path) throw invalid(op + "hardlink to itself");
  Fd t(openat2_in_root(root_, target, O_PATH | O_NOFOLLOW));
  if (!t) throw SystemError(errno, op + "open hardlink target", target);
  struct stat st {};
  if (::fstat(t.get(), &st) != 0) throw SystemError(errno, op + "fstat hardlink target", target);
  if (S_ISDIR(st.st_mode)) throw invalid(op + "hardlink target '" + h.linkname + "' is a directory");
  remove_existing(parent, base, path, false);
  if (::linkat(t.get(), "", parent, base.c_str(), AT_EMPTY_PATH) != 0) {
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; linking through our own /proc fd works without it.
    if (errno != ENOENT && errno != EPERM) throw SystemError(errno, op + "linkat", path);
    std::string via = "/proc/self/fd/" + std::to_string(t.get());
    if (::linkat(AT_FDCWD, via.c_str(), parent, base.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      throw SystemError(errno, op + "linkat", path);
    }
  }
}

void LayerExtractor::apply_whiteout(const std::string& dir, const std::string& base) {
  const std::string op = "extract entry '" + entry_ + "': ";
  ++stats_.whiteouts;
  if (base == kOpaque) {
    Fd d(openat2_in_root(root_, dir, O_RDONLY | O_DIRECTORY));
    if (!d && errno == ENOENT) {
      open_dir(dir, true, entry_);  // creates it
      d.reset(openat2_in_root(root_, dir, O_RDONLY | O_DIRECTORY));
    }
    if (!d) throw SystemError(errno, op + "open opaque directory", dir.empty() ? "/" : dir);
    if (opts_.whiteouts == WhiteoutMode::kOverlay) {
      if (::fsetxattr(d.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        throw SystemError(errno, op + "fsetxattr trusted.overlay.opaque on", dir.empty() ? "/" : dir);
      }
      return;
    }
    // Lower content goes; what this layer already put there stays.
    for (const auto& name : list_dir(d.get(), dir, op)) {
      std::string child = join(dir, name);
      if (!layer_.contains(child)) remove_tree_at(d.get(), name, child, op);
    }
    return;
  }
  if (base.starts_with(kWhiteoutMetaPrefix)) return;  // aufs bookkeeping (.wh..wh.plnk etc.): ignored
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..")
    throw invalid(op + "malformed whiteout name '" + base + "'");
  std::string target = join(dir, name);
  if (opts_.whiteouts == WhiteoutMode::kApply) {
    Fd p(openat2_in_root(root_, dir, O_PATH | O_DIRECTORY));
    if (!p) {
      if (errno == ENOENT || errno == ENOTDIR) return;  // nothing below to delete
      throw SystemError(errno, op + "openat2", dir);
    }
    remove_tree_at(p.get(), name, target, op);
    return;
  }
  Fd p = open_dir(dir, true, entry_);
  remove_existing(p.get(), name, target, false);
  if (::mknodat(p.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
    throw SystemError(errno, op + "mknodat overlay whiteout", target);
  }
  if (is_root_ && ::fchownat(p.get(), name.c_str(), 0, 0, AT_SYMLINK_NOFOLLOW) != 0) {
    throw SystemError(errno, op + "fchownat", target);
  }
  layer_[target] = tar_type::kChar;
}

void LayerExtractor::set_xattr(int fd, int parent, const std::string& base, const std::string& key,
                               const std::string& value, const std::string& path) {
  int rc;
  if (fd >= 0) {
    rc = ::fsetxattr(fd, key.c_str(), value.data(), value.size(), 0);
  } else {
    std::string p = proc_path(parent, base);
    rc = ::lsetxattr(p.c_str(), key.c_str(), value.data(), value.size(), 0);
  }
  if (rc == 0) return;
  if (errno == ENOTSUP || errno == EPERM) {
    // Like Docker: not every filesystem (or object type) takes every namespace.
    ++stats_.skipped_xattrs;
    warn("skipped xattr " + key + " on " + path + ": " + errno_text(errno));
    return;
  }
  throw SystemError(errno, "extract entry '" + entry_ + "': setxattr " + key + " on", path);
}

void LayerExtractor::apply_meta(const TarHeader& h, int fd, int parent, const std::string& base,
                                const std::string& path) {
  const std::string op = "extract entry '" + entry_ + "': ";
  if (opts_.chown && is_root_) {
    if (h.uid > 0xfffffffeLL || h.gid > 0xfffffffeLL) throw invalid(op + "uid/gid out of range");
    int rc = fd >= 0 ? ::fchown(fd, static_cast<uid_t>(h.uid), static_cast<gid_t>(h.gid))
                     : ::fchownat(parent, base.c_str(), static_cast<uid_t>(h.uid), static_cast<gid_t>(h.gid),
                                  AT_SYMLINK_NOFOLLOW);
    if (rc != 0) throw SystemError(errno, op + "chown", path);
  }
  for (const auto& [k, v] : h.xattrs) set_xattr(fd, parent, base, k, v, path);
  // chmod after chown: chown clears setuid/setgid.
  if (h.type != tar_type::kSymlink) {
    int rc = fd >= 0 ? ::fchmod(fd, h.mode) : ::fchmodat(parent, base.c_str(), h.mode, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) throw SystemError(errno, op + "chmod", path);
  }
  if (h.type == tar_type::kDirectory) return;  // directory times are applied at the end
  std::array<timespec, 2> ts{};
  ts[0].tv_sec = ts[1].tv_sec = h.mtime_sec;
  ts[0].tv_nsec = ts[1].tv_nsec = h.mtime_nsec;
  int rc =
      fd >= 0 ? ::futimens(fd, ts.data()) : ::utimensat(parent, base.c_str(), ts.data(), AT_SYMLINK_NOFOLLOW);
  if (rc != 0) throw SystemError(errno, op + "set times of", path);
}

void LayerExtractor::on_data(std::span<const std::byte> chunk) {
  if (!file_) return;  // whiteout, skipped device, or a type without data
  while (!chunk.empty()) {
    ssize_t n = ::write(file_.get(), chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "extract entry '" + entry_ + "': write", pending_.name);
    }
    chunk = chunk.subspan(static_cast<std::size_t>(n));
    stats_.bytes += static_cast<std::uint64_t>(n);
    file_written_ += static_cast<std::uint64_t>(n);
  }
  if (opts_.start_writeback && file_written_ - file_kicked_ >= kWritebackStep) {
    start_writeback(file_.get(), file_kicked_, file_written_);
    file_kicked_ = file_written_;
  }
}

void LayerExtractor::on_entry_end() {
  if (!file_) return;
  std::string path;
  normalize_entry_path(pending_.name, path);
  apply_meta(pending_, file_.get(), -1, {}, path);
  if (opts_.start_writeback && file_written_ >= kWritebackMinFile) {
    start_writeback(file_.get(), file_kicked_, file_written_);
  }
  if (::close(file_.release()) != 0) throw SystemError(errno, "extract entry '" + entry_ + "': close", path);
}

void LayerExtractor::finish() {
  if (finished_) return;
  finished_ = true;
  // Children are all written now; set directory times deepest-last-written first.
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    Fd d(openat2_in_root(root_, it->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // replaced or whited out later
      throw SystemError(errno, "extract: open directory to set times", it->path);
    }
    std::array<timespec, 2> ts{};
    ts[0].tv_sec = ts[1].tv_sec = it->sec;
    ts[0].tv_nsec = ts[1].tv_nsec = it->nsec;
    if (::futimens(d.get(), ts.data()) != 0)
      throw SystemError(errno, "extract: set times of directory", it->path);
  }
}

ExtractStats extract_layer(int root_fd, int tar_fd, ExtractOptions opts) {
  LayerExtractor ex(root_fd, opts);
  TarReader reader(ex);
  std::vector<std::byte> buf(256 * 1024);
  for (;;) {
    ssize_t n = ::read(tar_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read layer tar", "fd " + std::to_string(tar_fd));
    }
    if (n == 0) break;
    reader.feed(std::span(buf.data(), static_cast<std::size_t>(n)));
  }
  reader.finish();
  return ex.stats();
}

}  // namespace bocker::image
