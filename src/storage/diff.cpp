// Tree comparison (btrfs snapshots), overlay upper-dir diffs and size accounting.
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "bocker/runtime/error.hpp"
#include "common.hpp"

namespace bocker::storage::detail {

namespace {

std::string shown(const std::string& rel) { return rel.empty() ? "." : rel; }

bool same_content(int lower_dir, int upper_dir, const std::string& name, const std::string& path) {
  Fd a(::openat(lower_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!a) throw SystemError(errno, "open", path);
  Fd b(::openat(upper_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!b) throw SystemError(errno, "open", path);
  std::vector<char> ba(64 * 1024), bb(64 * 1024);
  for (;;) {
    ssize_t n = ::read(a.get(), ba.data(), ba.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "read", path);
    std::size_t got = 0;
    while (got < static_cast<std::size_t>(n)) {
      ssize_t m = ::read(b.get(), bb.data() + got, static_cast<std::size_t>(n) - got);
      if (m < 0 && errno == EINTR) continue;
      if (m < 0) throw SystemError(errno, "read", path);
      if (m == 0) return false;
      got += static_cast<std::size_t>(m);
    }
    if (std::memcmp(ba.data(), bb.data(), got) != 0) return false;
    if (n == 0) {
      char c;
      ssize_t m;
      do m = ::read(b.get(), &c, 1);
      while (m < 0 && errno == EINTR);
      return m == 0;
    }
  }
}

std::string read_link(int dir_fd, const std::string& name, std::size_t size_hint, const std::string& path) {
  std::string target(std::max<std::size_t>(size_hint, 64) + 1, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) throw SystemError(errno, "readlink", path);
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    target.resize(target.size() * 2);
  }
}

// True when the object is unchanged. A btrfs snapshot keeps inode numbers and ctimes, so equal
// (ino, ctime) means untouched; otherwise metadata, then content or link target, decide.
bool same_object(int lower_dir, int upper_dir, const std::string& name, const struct stat& l,
                 const struct stat& u, const std::string& path) {
  if ((l.st_mode & S_IFMT) != (u.st_mode & S_IFMT)) return false;
  if ((l.st_mode & 07777) != (u.st_mode & 07777) || l.st_uid != u.st_uid || l.st_gid != u.st_gid)
    return false;
  if (l.st_mtim.tv_sec != u.st_mtim.tv_sec || l.st_mtim.tv_nsec != u.st_mtim.tv_nsec) return false;
  if (!S_ISDIR(u.st_mode) && l.st_size != u.st_size) return false;
  if ((S_ISCHR(u.st_mode) || S_ISBLK(u.st_mode)) && l.st_rdev != u.st_rdev) return false;
  if (l.st_ino == u.st_ino && l.st_ctim.tv_sec == u.st_ctim.tv_sec &&
      l.st_ctim.tv_nsec == u.st_ctim.tv_nsec) {
    return true;
  }
  if (S_ISREG(u.st_mode)) return same_content(lower_dir, upper_dir, name, path);
  if (S_ISLNK(u.st_mode)) {
    return read_link(lower_dir, name, static_cast<std::size_t>(l.st_size), path) ==
           read_link(upper_dir, name, static_cast<std::size_t>(u.st_size), path);
  }
  return true;
}

void compare_dir(int lower, int upper, const std::string& rel, std::vector<image::TarChange>& out) {
  using Kind = image::TarChange::Kind;
  const std::vector<std::string> unames = list_dir(upper, shown(rel));
  if (lower >= 0) {
    for (const auto& n : list_dir(lower, shown(rel))) {
      if (!std::binary_search(unames.begin(), unames.end(), n)) out.push_back({Kind::kDelete, join(rel, n)});
    }
  }
  for (const auto& n : unames) {
    const std::string path = join(rel, n);
    struct stat us {
    }, ls{};
    if (!lstat_at(upper, n, us, path)) continue;  // vanished while walking
    const bool have = lower >= 0 && lstat_at(lower, n, ls, path);
    if (!have) {
      out.push_back({Kind::kAdd, path});
    } else if (!same_object(lower, upper, n, ls, us, path)) {
      out.push_back({Kind::kModify, path});
    }
    if (S_ISDIR(us.st_mode)) {
      Fd uc = open_dir_at(upper, n, path);
      Fd lc = have && S_ISDIR(ls.st_mode) ? open_dir_at(lower, n, path) : Fd();
      compare_dir(lc.get(), uc.get(), path, out);
    }
  }
}

std::map<std::string, std::string> overlay_free_xattrs(int dir_fd, const std::string& name,
                                                       const std::string& path) {
  const std::string proc = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
  std::map<std::string, std::string> out;
  std::vector<char> names(1024);
  ssize_t n;
  for (;;) {
    n = ::llistxattr(proc.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ENOTSUP) return out;
    if (errno != ERANGE) throw SystemError(errno, "llistxattr", path);
    names.resize(names.size() * 4);
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(n);) {
    std::string key(names.data() + i);
    i += key.size() + 1;
    if (key.starts_with("trusted.overlay.")) continue;  // overlayfs bookkeeping, not content
    std::string value(256, '\0');
    for (;;) {
      ssize_t m = ::lgetxattr(proc.c_str(), key.c_str(), value.data(), value.size());
      if (m >= 0) {
        value.resize(static_cast<std::size_t>(m));
        out[key] = std::move(value);
        break;
      }
      if (errno == ENODATA) break;
      if (errno != ERANGE) throw SystemError(errno, "lgetxattr " + key + " of", path);
      value.resize(value.size() * 4);
    }
  }
  return out;
}

bool is_opaque(int dir_fd, const std::string& path) {
  char v[4];
  ssize_t n = ::fgetxattr(dir_fd, "trusted.overlay.opaque", v, sizeof v);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) return false;
    throw SystemError(errno, "fgetxattr trusted.overlay.opaque of", path);
  }
  return n == 1 && v[0] == 'y';
}

class OverlayDiff {
 public:
  explicit OverlayDiff(image::TarWriter& out) : out_(out) {}

  void walk(int dir_fd, const std::string& rel) {
    for (const auto& n : list_dir(dir_fd, shown(rel))) {
      const std::string path = join(rel, n);
      struct stat st {};
      if (!lstat_at(dir_fd, n, st, path)) continue;
      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        out_.add_whiteout(path);
        continue;
      }
      if (S_ISSOCK(st.st_mode)) continue;  // sockets are not archived
      emit(dir_fd, n, path, st);
      if (S_ISDIR(st.st_mode)) {
        Fd child = open_dir_at(dir_fd, n, path);
        if (is_opaque(child.get(), path)) {
          image::TarHeader h;
          h.name = path + "/.wh..wh..opq";
          h.type = image::tar_type::kRegular;
          out_.write_header(h);
          out_.end_entry();
        }
        walk(child.get(), path);
      }
    }
  }

 private:
  void emit(int dir_fd, const std::string& name, const std::string& path, const struct stat& st) {
    image::TarHeader h;
    h.name = path;
    h.mode = st.st_mode & 07777;
    h.uid = st.st_uid;
    h.gid = st.st_gid;
    h.mtime_sec = st.st_mtim.tv_sec;
    h.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    switch (st.st_mode & S_IFMT) {
      case S_IFDIR:
        h.type = image::tar_type::kDirectory;
        h.name += '/';
        break;
      case S_IFLNK:
        h.type = image::tar_type::kSymlink;
        h.linkname = read_link(dir_fd, name, static_cast<std::size_t>(st.st_size), path);
        break;
      case S_IFCHR:
      case S_IFBLK:
        h.type = S_ISCHR(st.st_mode) ? image::tar_type::kChar : image::tar_type::kBlock;
        h.devmajor = major(st.st_rdev);
        h.devminor = minor(st.st_rdev);
        break;
      case S_IFIFO:
        h.type = image::tar_type::kFifo;
        break;
      default: {
        h.type = image::tar_type::kRegular;
        if (st.st_nlink > 1) {
          auto [it, fresh] = inodes_.emplace(std::make_pair(st.st_dev, st.st_ino), path);
          if (!fresh) {
            h.type = image::tar_type::kHardlink;
            h.linkname = it->second;
            break;
          }
        }
        h.size = st.st_size;
      }
    }
    h.xattrs = overlay_free_xattrs(dir_fd, name, path);
    if (h.size == 0) {
      out_.write_header(h);
      out_.end_entry();
      return;
    }
    Fd f(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) throw SystemError(errno, "open", path);
    out_.write_header(h);
    std::vector<std::byte> buf(128 * 1024);
    std::int64_t left = h.size;
    while (left > 0) {
      ssize_t n =
          ::read(f.get(), buf.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, buf.size())));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw SystemError(errno, "read", path);
      if (n == 0) throw Error("storage: " + path + " shrank while being archived");
      out_.write_data(std::span(buf.data(), static_cast<std::size_t>(n)));
      left -= n;
    }
    out_.end_entry();
  }

  image::TarWriter& out_;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;
};

void sum_tree(int dir_fd, const std::string& rel, std::set<std::pair<dev_t, ino_t>>& seen,
              std::uint64_t& total) {
  for (const auto& n : list_dir(dir_fd, shown(rel))) {
    const std::string path = join(rel, n);
    struct stat st {};
    if (!lstat_at(dir_fd, n, st, path)) continue;
    if (S_ISREG(st.st_mode) && seen.emplace(st.st_dev, st.st_ino).second)
      total += static_cast<std::uint64_t>(st.st_size);
    if (S_ISDIR(st.st_mode)) {
      Fd child = open_dir_at(dir_fd, n, path);
      sum_tree(child.get(), path, seen, total);
    }
  }
}

}  // namespace

std::vector<image::TarChange> compare_trees(int lower_fd, int upper_fd) {
  std::vector<image::TarChange> out;
  compare_dir(lower_fd, upper_fd, "", out);
  return out;
}

std::uint64_t changed_bytes(int lower_fd, int upper_fd) {
  std::uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const auto& c : compare_trees(lower_fd, upper_fd)) {
    if (c.kind == image::TarChange::Kind::kDelete) continue;
    struct stat st {};
    if (::fstatat(upper_fd, c.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // best effort
    if (S_ISREG(st.st_mode) && seen.emplace(st.st_dev, st.st_ino).second)
      total += static_cast<std::uint64_t>(st.st_size);
  }
  return total;
}

void write_overlay_diff(int upper_fd, image::TarWriter& out) {
  OverlayDiff diff(out);
  diff.walk(upper_fd, "");
}

std::uint64_t tree_bytes(int dir_fd) {
  std::uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  sum_tree(dir_fd, "", seen, total);
  return total;
}

}  // namespace bocker::storage::detail
