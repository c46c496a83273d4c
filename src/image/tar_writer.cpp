// Tar stream producer: ustar headers plus PAX records where ustar cannot hold a value.
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
#include <cstring>
#include <memory>
#include <vector>

#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::image {
namespace {

constexpr std::array<std::byte, kTarBlock * 2> kZeros{};

// Writes v as n-1 octal digits and a NUL, or base-256 when it does not fit (or is negative).
void put_numeric(char* f, std::size_t n, std::int64_t v) {
  const std::uint64_t max_octal = (std::uint64_t{1} << (3 * (n - 1))) - 1;
  if (v >= 0 && static_cast<std::uint64_t>(v) <= max_octal) {
    std::uint64_t x = static_cast<std::uint64_t>(v);
    for (std::size_t i = n - 1; i-- > 0;) {
      f[i] = static_cast<char>('0' + (x & 7));
      x >>= 3;
    }
    f[n - 1] = '\0';
    return;
  }
  std::uint64_t x = static_cast<std::uint64_t>(v);
  for (std::size_t i = n; i-- > 0;) {
    f[i] = static_cast<char>(x & 0xff);
    x = v < 0 ? (x >> 8) | (std::uint64_t{0xff} << 56) : x >> 8;
  }
  f[0] = static_cast<char>(v < 0 ? 0xff : 0x80);
}

bool fits_octal(std::int64_t v, std::size_t n) {
  return v >= 0 && static_cast<std::uint64_t>(v) <= (std::uint64_t{1} << (3 * (n - 1))) - 1;
}

void put_str(char* f, std::size_t n, std::string_view s) { std::memcpy(f, s.data(), std::min(n, s.size())); }

// "<len> <key>=<value>\n" where len counts the whole record including its own digits.
void add_record(std::string& out, std::string_view key, std::string_view value) {
  std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  out += std::to_string(len);
  out += ' ';
  out += key;
  out += '=';
  out += value;
  out += '\n';
}

std::array<char, kTarBlock> make_block(std::string_view name, char type, const TarHeader& h,
                                       std::int64_t size) {
  std::array<char, kTarBlock> b{};
  put_str(b.data() + 0, 100, name);
  put_numeric(b.data() + 100, 8, h.mode & 07777);
  put_numeric(b.data() + 108, 8, fits_octal(h.uid, 8) ? h.uid : 0);
  put_numeric(b.data() + 116, 8, fits_octal(h.gid, 8) ? h.gid : 0);
  put_numeric(b.data() + 124, 12, size);
  put_numeric(b.data() + 136, 12, h.mtime_sec);
  b[156] = type;
  put_str(b.data() + 157, 100, h.linkname);
  std::memcpy(b.data() + 257,
              "ustar\0"
              "00",
              8);
  put_numeric(b.data() + 329, 8, h.devmajor);
  put_numeric(b.data() + 337, 8, h.devminor);
  std::memset(b.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  put_numeric(b.data() + 148, 7, sum);  // six digits and a NUL; the trailing space stays
  return b;
}

std::span<const std::byte> bytes(const void* p, std::size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

int openat2_in_root(int root, const std::string& path, std::uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, root, path.empty() ? "." : path.c_str(), &how, sizeof how);
    if (fd < 0 && errno == EINTR) continue;
    return static_cast<int>(fd);
  }
}

std::map<std::string, std::string> read_xattrs(const std::string& path, const std::string& what) {
  std::map<std::string, std::string> out;
  std::vector<char> names(1024);
  ssize_t n;
  for (;;) {
    n = ::llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ENOTSUP) return out;
    if (errno != ERANGE) throw SystemError(errno, "llistxattr", what);
    names.resize(names.size() * 4);
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(n);) {
    std::string key(names.data() + i);
    i += key.size() + 1;
    std::string value(256, '\0');
    for (;;) {
      ssize_t m = ::lgetxattr(path.c_str(), key.c_str(), value.data(), value.size());
      if (m >= 0) {
        value.resize(static_cast<std::size_t>(m));
        break;
      }
      if (errno == ENODATA) break;
      if (errno != ERANGE) throw SystemError(errno, "lgetxattr " + key + " of", what);
      value.resize(value.size() * 4);
    }
    out[key] = std::move(value);
  }
  return out;
}

}  // namespace

void TarWriter::emit(std::span<const std::byte> data) {
  out_(data);
  written_ += data.size();
}

void TarWriter::write_header(const TarHeader& h) {
  if (closed_) throw Error("tar writer: entry '" + h.name + "' added after close");
  if (in_entry_) throw Error("tar writer: entry '" + h.name + "' started before '" + entry_name_ + "' ended");
  std::string pax;
  if (h.name.size() > 100) add_record(pax, "path", h.name);
  if (h.linkname.size() > 100) add_record(pax, "linkpath", h.linkname);
  if (!fits_octal(h.size, 12)) add_record(pax, "size", std::to_string(h.size));
  if (!fits_octal(h.uid, 8)) add_record(pax, "uid", std::to_string(h.uid));
  if (!fits_octal(h.gid, 8)) add_record(pax, "gid", std::to_string(h.gid));
  for (const auto& [k, v] : h.xattrs) add_record(pax, "SCHILY.xattr." + k, v);
  if (!pax.empty()) {
    std::string base = h.name;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    base = base.substr(base.rfind('/') == std::string::npos ? 0 : base.rfind('/') + 1);
    std::string pname = ("PaxHeaders.0/" + base).substr(0, 100);
    TarHeader ph;
    ph.mode = 0644;
    ph.mtime_sec = h.mtime_sec;
    auto blk = make_block(pname, 'x', ph, static_cast<std::int64_t>(pax.size()));
    emit(bytes(blk.data(), blk.size()));
    emit(bytes(pax.data(), pax.size()));
    emit(std::span(kZeros).first((kTarBlock - pax.size() % kTarBlock) % kTarBlock));
  }
  auto blk = make_block(h.name, h.type, h, h.size);
  emit(bytes(blk.data(), blk.size()));
  entry_name_ = h.name;
  remaining_ = h.size;
  padding_ = static_cast<std::int64_t>((kTarBlock - h.size % kTarBlock) % kTarBlock);
  in_entry_ = true;
}

void TarWriter::write_data(std::span<const std::byte> data) {
  if (!in_entry_ || static_cast<std::int64_t>(data.size()) > remaining_) {
    throw Error("tar writer: entry '" + entry_name_ + "': more data than its header's size");
  }
  emit(data);
  remaining_ -= static_cast<std::int64_t>(data.size());
}

void TarWriter::end_entry() {
  if (!in_entry_) throw Error("tar writer: end_entry without an entry");
  if (remaining_ != 0) {
    throw Error("tar writer: entry '" + entry_name_ + "': " + std::to_string(remaining_) +
                " bytes of data missing");
  }
  emit(std::span(kZeros).first(static_cast<std::size_t>(padding_)));
  in_entry_ = false;
}

void TarWriter::close() {
  if (in_entry_) throw Error("tar writer: close inside entry '" + entry_name_ + "'");
  if (closed_) return;
  emit(kZeros);
  closed_ = true;
}

bool TarWriter::add_object(int root_fd, const std::string& rel, const std::string& name) {
  auto slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash);
  std::string base = slash == std::string::npos ? rel : rel.substr(slash + 1);
  Fd parent(openat2_in_root(root_fd, dir, O_PATH | O_DIRECTORY));
  if (!parent) throw SystemError(errno, "tar: open parent directory", dir.empty() ? "." : dir);
  struct stat st {};
  if (::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    throw SystemError(errno, "tar: lstat", rel);
  TarHeader h;
  h.name = name;
  h.mode = st.st_mode & 07777;
  h.uid = st.st_uid;
  h.gid = st.st_gid;
  h.mtime_sec = st.st_mtim.tv_sec;
  const std::string proc = "/proc/self/fd/" + std::to_string(parent.get()) + "/" + base;
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
      h.type = tar_type::kDirectory;
      if (!h.name.ends_with('/')) h.name += '/';
      break;
    case S_IFLNK: {
      h.type = tar_type::kSymlink;
      std::string target(std::max<std::size_t>(st.st_size, 64) + 1, '\0');
      for (;;) {
        ssize_t n = ::readlinkat(parent.get(), base.c_str(), target.data(), target.size());
        if (n < 0) throw SystemError(errno, "tar: readlinkat", rel);
        if (static_cast<std::size_t>(n) < target.size()) {
          target.resize(static_cast<std::size_t>(n));
          break;
        }
        target.resize(target.size() * 2);
      }
      h.linkname = std::move(target);
      break;
    }
    case S_IFCHR:
    case S_IFBLK:
      h.type = S_ISCHR(st.st_mode) ? tar_type::kChar : tar_type::kBlock;
      h.devmajor = major(st.st_rdev);
      h.devminor = minor(st.st_rdev);
      break;
    case S_IFIFO:
      h.type = tar_type::kFifo;
      break;
    case S_IFREG: {
      auto key = std::make_pair(static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino));
      if (st.st_nlink > 1) {
        auto [it, fresh] = inodes_.emplace(key, name);
        if (!fresh) {
          h.type = tar_type::kHardlink;
          h.linkname = it->second;
          break;
        }
      }
      h.type = tar_type::kRegular;
      h.size = st.st_size;
      break;
    }
    default:
      return false;  // sockets are not archived
  }
  h.xattrs = read_xattrs(proc, rel);
  if (h.type != tar_type::kRegular) {
    write_header(h);
    end_entry();
    return h.type == tar_type::kDirectory;
  }
  Fd f(::openat(parent.get(), base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!f) throw SystemError(errno, "tar: open", rel);
  write_header(h);
  std::vector<std::byte> buf(128 * 1024);
  while (remaining_ > 0) {
    ssize_t n =
        ::read(f.get(), buf.data(), static_cast<std::size_t>(std::min<std::int64_t>(remaining_, buf.size())));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "tar: read", rel);
    }
    if (n == 0) throw Error("tar: " + rel + " shrank while being archived");
    write_data(std::span(buf.data(), static_cast<std::size_t>(n)));
  }
  end_entry();
  return false;
}

void TarWriter::add_path(int root_fd, std::string_view rel) {
  std::string norm;
  if (!normalize_entry_path(rel, norm) || norm.empty()) {
    throw invalid("tar: path '" + std::string(rel) + "' is not a relative path inside the root");
  }
  add_object(root_fd, norm, norm);
}

void TarWriter::add_tree(int root_fd, std::string_view prefix) { add_tree_dir(root_fd, "", prefix); }

void TarWriter::add_tree_dir(int root_fd, const std::string& rel, std::string_view prefix) {
  Fd d(openat2_in_root(root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!d) throw SystemError(errno, "tar: open directory", rel.empty() ? "." : rel);
  std::vector<std::string> names = sorted_entries(std::move(d), rel.empty() ? "." : rel, "tar: ");
  std::string pre(prefix);
  if (!pre.empty() && !pre.ends_with('/')) pre += '/';
  for (const auto& n : names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    if (add_object(root_fd, child, pre + child)) add_tree_dir(root_fd, child, prefix);
  }
}

void TarWriter::add_whiteout(std::string_view rel) {
  std::string norm;
  if (!normalize_entry_path(rel, norm) || norm.empty()) {
    throw invalid("tar: whiteout path '" + std::string(rel) + "' is not a relative path inside the root");
  }
  auto slash = norm.rfind('/');
  TarHeader h;
  h.name = slash == std::string::npos ? ".wh." + norm
                                      : norm.substr(0, slash + 1) + ".wh." + norm.substr(slash + 1);
  h.type = tar_type::kRegular;
  write_header(h);
  end_entry();
}

void TarWriter::write_changes(int root_fd, std::span<const TarChange> changes) {
  for (const auto& c : changes) {
    if (c.kind == TarChange::Kind::kDelete) {
      add_whiteout(c.path);
    } else {
      add_path(root_fd, c.path);
    }
  }
}

}  // namespace bocker::image
