// Parent-side work inside a container's root filesystem: every path is resolved with
// openat2(RESOLVE_IN_ROOT), so symlinks and ".." in the image cannot lead out of it.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <optional>

#include "bocker/runtime/error.hpp"
#include "spawn_internal.hpp"

namespace bocker::container::detail {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::optional<unsigned> parse_id(std::string_view s) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  if (v > static_cast<unsigned>(std::numeric_limits<int>::max())) return std::nullopt;
  return v;
}

struct PasswdEntry {
  std::string name;
  unsigned uid = 0, gid = 0;
  std::string home;
};
struct GroupEntry {
  std::string name;
  unsigned gid = 0;
  std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(const std::string& text) {
  std::vector<PasswdEntry> out;
  for (auto line : split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, ':');
    if (f.size() < 4) continue;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) continue;
    out.push_back({std::string(f[0]), *uid, *gid, f.size() > 5 ? std::string(f[5]) : std::string()});
  }
  return out;
}

std::vector<GroupEntry> parse_group(const std::string& text) {
  std::vector<GroupEntry> out;
  for (auto line : split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, ':');
    if (f.size() < 3) continue;
    auto gid = parse_id(f[2]);
    if (!gid) continue;
    GroupEntry g{std::string(f[0]), *gid, {}};
    if (f.size() > 3 && !f[3].empty()) {
      for (auto m : split(f[3], ',')) {
        if (!m.empty()) g.members.emplace_back(m);
      }
    }
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

std::string clean_path(std::string_view path, std::string_view what) {
  if (path.empty() || path[0] != '/') {
    throw invalid(std::string(what) + " must be an absolute path, got \"" + std::string(path) + "\"");
  }
  if (path.find('\0') != std::string_view::npos) {
    throw invalid(std::string(what) + " contains a NUL byte");
  }
  std::vector<std::string_view> parts;
  for (auto c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (auto c : parts) {
    out += '/';
    out += c;
  }
  return out.empty() ? "/" : out;
}

int open_in_root(int root, const std::string& path, int flags, unsigned mode) noexcept {
  open_how how{};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

namespace {
Fd mkdir_all_in_root_depth(int root, const std::string& path, unsigned mode, int depth);
}

Fd mkdir_all_in_root(int root, const std::string& path, unsigned mode) {
  return mkdir_all_in_root_depth(root, path, mode, 0);
}

namespace {
Fd mkdir_all_in_root_depth(int root, const std::string& path, unsigned mode, int depth) {
  if (depth > 40) throw SystemError(ELOOP, "mkdir", path);
  std::string clean = clean_path(path, "directory");
  Fd dir(open_in_root(root, "/", O_PATH | O_DIRECTORY));
  if (!dir) throw SystemError(-dir.get(), "open", "container root");
  std::string sofar;
  for (auto comp : split(std::string_view(clean).substr(1), '/')) {
    if (comp.empty()) continue;
    std::string parent = sofar.empty() ? "/" : sofar;
    sofar += '/';
    sofar += comp;
    int fd = open_in_root(root, sofar, O_PATH | O_DIRECTORY);
    if (fd == -ENOENT) {
      Fd pfd(open_in_root(root, parent, O_PATH | O_DIRECTORY));
      if (!pfd) throw SystemError(-pfd.get(), "open", parent);
      std::string name(comp);
      if (::mkdirat(pfd.get(), name.c_str(), mode) < 0 && errno != EEXIST) {
        throw SystemError(errno, "mkdir", sofar);
      }
      fd = open_in_root(root, sofar, O_PATH | O_DIRECTORY);
      if (fd == -ENOENT) {
        // A dangling symlink: create what it points at, inside the root (as Docker does).
        char link[4096];
        ssize_t n = ::readlinkat(pfd.get(), name.c_str(), link, sizeof link - 1);
        if (n > 0) {
          link[n] = '\0';
          std::string target = link[0] == '/' ? std::string(link) : parent + "/" + link;
          mkdir_all_in_root_depth(root, clean_path(target, "symlink target"), mode, depth + 1);
          fd = open_in_root(root, sofar, O_PATH | O_DIRECTORY);
        }
      }
    }
    if (fd < 0) throw SystemError(-fd, "open directory", sofar);
    dir.reset(fd);
  }
  return dir;
}
}  // namespace

void write_in_root(int root, const std::string& path, std::string_view data, unsigned mode) {
  std::string clean = clean_path(path, "file");
  auto slash = clean.rfind('/');
  if (slash > 0) mkdir_all_in_root(root, clean.substr(0, slash));
  Fd fd(open_in_root(root, clean, O_WRONLY | O_CREAT | O_TRUNC, mode));
  if (!fd) throw SystemError(-fd.get(), "open", clean);
  struct stat st {};
  check_sys(::fstat(fd.get(), &st), "fstat", clean);
  if (!S_ISREG(st.st_mode)) throw invalid(clean + " in the container is not a regular file");
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "write", clean);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string read_in_root(int root, const std::string& path) {
  Fd fd(open_in_root(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    if (fd.get() == -ENOENT) return {};
    throw SystemError(-fd.get(), "open", path);
  }
  struct stat st {};
  check_sys(::fstat(fd.get(), &st), "fstat", path);
  if (!S_ISREG(st.st_mode)) throw invalid(path + " in the container is not a regular file");
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (16u << 20)) throw invalid(path + " in the container is larger than 16 MiB");
  }
  return out;
}

void ensure_mountpoint(int root, const std::string& rootfs, const char* name) {
  struct stat st {};
  if (::fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT) throw SystemError(errno, "stat", rootfs + "/" + name);
    if (::mkdirat(root, name, 0755) < 0 && errno != EEXIST)
      throw SystemError(errno, "mkdir", rootfs + "/" + name);
    check_sys(::fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW), "stat", rootfs + "/" + name);
  }
  if (!S_ISDIR(st.st_mode)) {
    throw invalid("/" + std::string(name) + " in the container's root filesystem is not a directory");
  }
}

std::string prepare_mount_target(int root, const std::string& target, bool file) {
  std::string clean = clean_path(target, "mount target");
  if (clean == "/") throw invalid("cannot mount over the container's root directory");
  auto slash = clean.rfind('/');
  std::string parent = slash == 0 ? "/" : clean.substr(0, slash);
  mkdir_all_in_root(root, parent);
  if (file) {
    // A symlink as the last component is followed inside the root (as runc does).
    Fd fd(open_in_root(root, clean, O_RDONLY | O_CREAT | O_NOCTTY | O_NONBLOCK, 0644));
    if (!fd && fd.get() != -EISDIR) throw SystemError(-fd.get(), "create mount target", clean);
  } else {
    mkdir_all_in_root(root, clean);
  }
  return clean.substr(1);
}

std::string lookup_path(int root, const std::string& name, const std::string& path_env) {
  for (auto dir : split(path_env, ':')) {
    if (dir.empty() || dir[0] != '/') continue;
    std::string candidate(dir);
    if (candidate.back() != '/') candidate += '/';
    candidate += name;
    Fd fd(open_in_root(root, candidate, O_PATH));
    if (!fd) continue;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) continue;
    if (S_ISREG(st.st_mode) && (st.st_mode & 0111)) return candidate;
  }
  return {};
}

ResolvedUser resolve_user(int root, const std::string& user) {
  std::string_view spec = user;
  std::string_view uspec = spec, gspec;
  bool has_group = false;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    uspec = spec.substr(0, colon);
    gspec = spec.substr(colon + 1);
    has_group = true;
  }
  if (uspec.empty()) uspec = "0";
  if (has_group && gspec.empty()) throw invalid("invalid user \"" + user + "\": empty group");

  auto passwd = parse_passwd(read_in_root(root, "/etc/passwd"));
  auto groups = parse_group(read_in_root(root, "/etc/group"));

  ResolvedUser out;
  std::string name;
  auto uid_num = parse_id(uspec);
  const PasswdEntry* pw = nullptr;
  for (const auto& e : passwd) {
    if ((uid_num && e.uid == *uid_num) || (!uid_num && e.name == uspec)) {
      pw = &e;
      break;
    }
  }
  if (pw != nullptr) {
    out.uid = pw->uid;
    out.gid = pw->gid;
    name = pw->name;
    if (!pw->home.empty()) out.home = pw->home;
  } else if (uid_num) {
    out.uid = *uid_num;
    out.gid = 0;
  } else {
    throw invalid("unable to find user " + std::string(uspec) + ": no matching entries in passwd file");
  }
  if (has_group) {
    auto gid_num = parse_id(gspec);
    const GroupEntry* gr = nullptr;
    for (const auto& g : groups) {
      if ((gid_num && g.gid == *gid_num) || (!gid_num && g.name == gspec)) {
        gr = &g;
        break;
      }
    }
    if (gr != nullptr) {
      out.gid = gr->gid;
    } else if (gid_num) {
      out.gid = *gid_num;
    } else {
      throw invalid("unable to find group " + std::string(gspec) + ": no matching entries in group file");
    }
  }
  out.groups.push_back(out.gid);
  if (!name.empty()) {
    for (const auto& g : groups) {
      for (const auto& m : g.members) {
        if (m == name) {
          bool dup = false;
          for (gid_t x : out.groups) dup = dup || x == g.gid;
          if (!dup) out.groups.push_back(g.gid);
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace bocker::container::detail
