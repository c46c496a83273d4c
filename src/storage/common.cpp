// Shared layer/container bookkeeping of the storage drivers, and small file-tree helpers.
#include "common.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>

#include "bocker/image/extract.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::storage::detail {

// Crash safety of layers. A layer directory carries at most one marker:
//   incomplete  begin_layer .. commit: the content is partial. Always removed at start.
//   unsynced    commit_layer_unsynced renamed "incomplete" to it (same file: it holds the boot id
//               begin_layer wrote): the content is complete, but maybe only in the page cache.
//   (none)      durable: sync_layers ran syncfs after the content was written, then unlinked the
//               marker and fsynced the layer directory.
// Because "incomplete" becomes "unsynced" by one rename, a crash never leaves an unmarked layer
// whose content was not synced. At start (cleanup_incomplete), an unsynced layer whose boot id is
// this boot's lost only the daemon, not the page cache: one syncfs makes it durable. Any other
// boot id (or an unreadable marker) means the machine went down and the content may be lost: the
// layer is removed, and so is every layer above it. sync_layers finalizes a chain base layer
// first, so a durable layer never sits on a parent that could still be removed.
// The image store writes a record only after sync_layers() of its top layer returned, so every
// layer a record names is durable: a crash at any point leaves either no record (the layers are
// reused or removed) or a record with all its layers present.

namespace {
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kIncomplete = "incomplete";
constexpr const char* kUnsynced = "unsynced";
constexpr std::size_t kMaxChain = 4096;

std::string trim_ws(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

bool layer_id_ok(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.size() == 3 &&
          std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

void fsync_dir(int fd, const std::string& what) {
  if (::fsync(fd) != 0) throw SystemError(errno, "fsync directory", what);
}
}  // namespace

void write_file_at(int dir_fd, const std::string& name, std::string_view data, const std::string& what,
                   bool sync) {
  Fd fd(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw SystemError(errno, "create", what);
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "write", what);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (sync && ::fsync(fd.get()) != 0) throw SystemError(errno, "fsync", what);
  if (::close(fd.release()) != 0) throw SystemError(errno, "close", what);
}

std::string boot_id() {
  static const std::string id = [] {
    const std::string path = "/proc/sys/kernel/random/boot_id";
    std::string s = trim_ws(read_file(path));
    if (s.empty()) throw Error("storage: " + path + " is empty");
    return s;
  }();
  return id;
}

void validate_layer_id(const std::string& id) {
  if (!layer_id_ok(id)) throw invalid("storage: invalid layer id '" + id + "' (want [a-z0-9]{1,128})");
}

void validate_container_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128 && std::isalnum(static_cast<unsigned char>(id[0]));
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') ok = false;
  }
  if (!ok) {
    throw invalid("storage: invalid container id '" + id + "' (want [A-Za-z0-9][A-Za-z0-9_.-]{0,127})");
  }
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

std::vector<std::string> list_dir(int dir_fd, const std::string& what) {
  Fd dup(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup) throw SystemError(errno, "open directory", what);
  return image::sorted_entries(std::move(dup), what);
}

bool lstat_at(int dir_fd, const std::string& name, struct stat& st, const std::string& what) {
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  throw SystemError(errno, "lstat", what);
}

Fd open_dir_at(int dir_fd, const std::string& name, const std::string& what) {
  Fd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open directory", what);
  return fd;
}

bool is_mount_point(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) throw SystemError(errno, "open", "/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point ...
    std::size_t pos = 0;
    for (int field = 0; field < 4 && pos != std::string::npos; ++field) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    std::size_t end = line.find(' ', pos);
    if (unescape_mountinfo(line.substr(pos, end - pos)) == path) return true;
  }
  return false;
}

// ---- DriverBase -------------------------------------------------------------------------------

namespace {
// chattr +T: ext2/3/4's Orlov allocator treats the directory as the top of unrelated
// hierarchies and spreads its subdirectories (one per layer or container) over block groups
// instead of packing them next to their parent, so a layer's files mostly come from a group of
// their own rather than the crowded parent group, where ext4 without a journal walks over the
// inodes a recent rmi freed one by one (pull 0.59 -> 0.52 s on this VM; Orlov picks the group
// with the fewest directories, so an emptied group can still be chosen again). Best effort:
// btrfs, xfs and tmpfs don't have the flag, and nothing depends on it.
void mark_top_dir(int fd) {
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 || (flags & FS_TOPDIR_FL) != 0) return;
  flags |= FS_TOPDIR_FL;
  (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
}
}  // namespace

DriverBase::DriverBase(std::string dir) : dir_(std::move(dir)), boot_id_(boot_id()) {
  make_dirs(dir_ + "/layers", 0700);
  make_dirs(dir_ + "/containers", 0700);
  layers_fd_ = Fd(::open((dir_ + "/layers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!layers_fd_) throw SystemError(errno, "open directory", dir_ + "/layers");
  containers_fd_ = Fd(::open((dir_ + "/containers").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!containers_fd_) throw SystemError(errno, "open directory", dir_ + "/containers");
  mark_top_dir(layers_fd_.get());
  mark_top_dir(containers_fd_.get());
}

bool DriverBase::layer_exists_locked(const std::string& id, bool* complete) const {
  struct stat st {};
  if (!lstat_at(layers_fd_.get(), id, st, layer_path(id))) return false;
  if (complete != nullptr) {
    *complete = !lstat_at(layers_fd_.get(), id + "/" + kIncomplete, st, layer_path(id) + "/" + kIncomplete);
  }
  return true;
}

DriverBase::LayerState DriverBase::layer_state_locked(const std::string& id) const {
  bool complete = false;
  if (!layer_exists_locked(id, &complete)) return LayerState::kMissing;
  if (!complete) return LayerState::kIncomplete;
  struct stat st {};
  if (lstat_at(layers_fd_.get(), id + "/" + kUnsynced, st, layer_path(id) + "/" + kUnsynced)) {
    return LayerState::kUnsynced;
  }
  return LayerState::kDurable;
}

bool DriverBase::has_layer(const std::string& id) const {
  if (!layer_id_ok(id)) return false;
  std::lock_guard lock(mu_);
  bool complete = false;
  return layer_exists_locked(id, &complete) && complete;
}

std::string DriverBase::parent_of(const std::string& id) const {
  std::string p = read_file(layer_path(id) + "/parent");
  while (!p.empty() && p.back() == '\n') p.pop_back();
  if (!p.empty() && !layer_id_ok(p)) {
    throw Error("storage: layer " + id + ": corrupt parent file " + layer_path(id) + "/parent");
  }
  return p;
}

std::string DriverBase::layer_of(const std::string& cid) const {
  std::string l = read_file(container_path(cid) + "/layer");
  while (!l.empty() && l.back() == '\n') l.pop_back();
  return l;
}

Fd DriverBase::open_layer_dir(const std::string& id) const {
  return open_dir_at(layers_fd_.get(), id, layer_path(id));
}

Fd DriverBase::open_container_dir(const std::string& cid) const {
  Fd fd(::openat(containers_fd_.get(), cid.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && errno == ENOENT) throw not_found("storage: no rootfs for container " + cid);
  if (!fd) throw SystemError(errno, "open directory", container_path(cid));
  return fd;
}

Fd DriverBase::begin_layer(const std::string& id, const std::string& parent) {
  validate_layer_id(id);
  if (!parent.empty()) validate_layer_id(parent);
  if (parent == id) throw invalid("storage: layer " + id + " cannot be its own parent");
  std::lock_guard lock(mu_);
  bool complete = false;
  if (layer_exists_locked(id, &complete)) {
    throw conflict("storage: layer " + id + (complete ? " already exists" : " is already being written"));
  }
  if (!parent.empty()) {
    bool parent_exists = layer_exists_locked(parent, &complete);
    if (!parent_exists || (!complete && needs_committed_parent())) {
      throw not_found("storage: parent layer " + parent + " of layer " + id + " does not exist");
    }
  }
  const std::string tmp = kTmpPrefix + id;
  const std::string tmp_path = dir_ + "/layers/" + tmp;
  image::remove_tree_at(layers_fd_.get(), tmp, tmp_path);
  if (::mkdirat(layers_fd_.get(), tmp.c_str(), 0700) != 0) throw SystemError(errno, "mkdir", tmp_path);
  try {
    // Only the marker must be on disk before the directory takes the layer's name (the file and
    // the directory entry: two fsyncs). The rest (parent, content) is synced by sync_layers, and
    // so is the rename: if it is lost, the ".tmp-" directory is removed at start.
    Fd tdir = open_dir_at(layers_fd_.get(), tmp, tmp_path);
    write_file_at(tdir.get(), kIncomplete, boot_id_, tmp_path + "/" + kIncomplete,
                  true);  // "unsynced" at commit
    write_file_at(tdir.get(), "parent", parent, tmp_path + "/parent", false);
    fsync_dir(tdir.get(), tmp_path);
    if (::renameat(layers_fd_.get(), tmp.c_str(), layers_fd_.get(), id.c_str()) != 0) {
      throw SystemError(errno, "rename " + tmp_path + " to", layer_path(id));
    }
  } catch (...) {
    try {
      image::remove_tree_at(layers_fd_.get(), tmp, tmp_path);
    } catch (...) {  // cleanup_incomplete removes it at the next start
    }
    throw;
  }
  try {
    Fd ldir = open_layer_dir(id);
    return make_layer(id, parent, ldir.get());
  } catch (...) {
    try {
      remove_layer_locked(id);
    } catch (...) {  // still marked incomplete: cleanup_incomplete removes it
    }
    throw;
  }
}

void DriverBase::commit_layer(const std::string& id) {
  commit_layer_unsynced(id);
  sync_layers(id);
}

void DriverBase::commit_layer_unsynced(const std::string& id) {
  validate_layer_id(id);
  std::lock_guard lock(mu_);
  bool complete = false;
  if (!layer_exists_locked(id, &complete)) throw not_found("storage: layer " + id + " was not begun");
  if (complete) throw conflict("storage: layer " + id + " is already committed");
  Fd ldir = open_layer_dir(id);
  if (!needs_committed_parent()) {
    // A layer is only committed on top of a committed parent (a crash must not leave a
    // committed layer whose parent cleanup_incomplete() removes).
    std::string parent = read_file(layer_path(id) + "/parent");
    while (!parent.empty() && (parent.back() == '\n' || parent.back() == ' ')) parent.pop_back();
    bool parent_complete = false;
    if (!parent.empty() && !(layer_exists_locked(parent, &parent_complete) && parent_complete)) {
      throw conflict("storage: parent layer " + parent + " of layer " + id + " is not committed yet");
    }
  }
  seal_layer(id, ldir.get());
  // One rename: after a crash the layer has one marker or the other, never none. No fsync: if the
  // rename is lost the layer is "incomplete" again, and nothing names it before sync_layers.
  if (::renameat(ldir.get(), kIncomplete, ldir.get(), kUnsynced) != 0) {
    throw SystemError(errno, "rename " + layer_path(id) + "/" + kIncomplete + " to",
                      layer_path(id) + "/" + kUnsynced);
  }
  unsynced_gen_[id] = next_gen_++;
}

void DriverBase::sync_layers(const std::string& id) {
  validate_layer_id(id);
  std::vector<std::pair<std::string, std::uint64_t>> unsynced;  // top layer first
  {
    std::lock_guard lock(mu_);
    std::string cur = id;
    for (std::size_t depth = 0; !cur.empty(); ++depth) {
      if (depth > kMaxChain) throw Error("storage: layer chain of " + id + " loops");
      const std::string which = cur == id ? "layer " + cur : "layer " + cur + " (below " + id + ")";
      switch (layer_state_locked(cur)) {
        case LayerState::kMissing:
          throw not_found("storage: sync: " + which + " does not exist");
        case LayerState::kIncomplete:
          throw conflict("storage: sync: " + which + " is still being written");
        case LayerState::kUnsynced: {
          auto it = unsynced_gen_.find(cur);
          unsynced.emplace_back(cur, it == unsynced_gen_.end() ? 0 : it->second);
          break;
        }
        case LayerState::kDurable:
          break;
      }
      cur = parent_of(cur);
    }
  }
  if (unsynced.empty()) return;
  std::reverse(unsynced.begin(), unsynced.end());
  sync_and_finalize(unsynced);
}

void DriverBase::sync_and_finalize(const std::vector<std::pair<std::string, std::uint64_t>>& unsynced) {
  // Without mu_: other layers may begin and commit meanwhile (their content is synced too, or not;
  // only the markers listed here are removed).
  if (::syncfs(layers_fd_.get()) != 0) throw SystemError(errno, "syncfs", dir_);
  std::lock_guard lock(mu_);
  for (const auto& [id, gen] : unsynced) {
    auto it = unsynced_gen_.find(id);
    if ((it == unsynced_gen_.end() ? 0 : it->second) != gen) continue;  // removed and committed again
    if (layer_state_locked(id) != LayerState::kUnsynced) continue;      // removed (or finalized) meanwhile
    Fd ldir = open_layer_dir(id);
    if (::unlinkat(ldir.get(), kUnsynced, 0) != 0 && errno != ENOENT) {
      throw SystemError(errno, "unlink", layer_path(id) + "/" + kUnsynced);
    }
    fsync_dir(ldir.get(), layer_path(id));  // before the next (child) marker goes
    if (it != unsynced_gen_.end()) unsynced_gen_.erase(it);
  }
}

void DriverBase::abort_layer(const std::string& id) {
  validate_layer_id(id);
  std::lock_guard lock(mu_);
  bool complete = false;
  if (!layer_exists_locked(id, &complete)) throw not_found("storage: layer " + id + " was not begun");
  if (complete) throw conflict("storage: layer " + id + " is committed; use remove_layer");
  remove_layer_locked(id);
}

void DriverBase::remove_layer(const std::string& id) {
  validate_layer_id(id);
  std::lock_guard lock(mu_);
  bool complete = false;
  if (!layer_exists_locked(id, &complete)) throw not_found("storage: layer " + id + " does not exist");
  if (!complete) throw conflict("storage: layer " + id + " is being written; abort it instead");
  for (const auto& name : list_dir(layers_fd_.get(), dir_ + "/layers")) {
    if (name.starts_with(kTmpPrefix) || name == id) continue;
    bool child_complete = false;
    if (!layer_exists_locked(name, &child_complete)) continue;
    std::string p;
    try {
      p = parent_of(name);
    } catch (const SystemError&) {
      continue;  // a half-created layer without parent file
    }
    if (p == id) throw conflict("storage: layer " + id + " is in use by child layer " + name);
  }
  for (const auto& cid : list_dir(containers_fd_.get(), dir_ + "/containers")) {
    if (cid.starts_with(kTmpPrefix)) continue;
    std::string l;
    try {
      l = layer_of(cid);
    } catch (const SystemError&) {
      continue;
    }
    if (l == id) throw conflict("storage: layer " + id + " is in use by the rootfs of container " + cid);
  }
  // Marked incomplete first: a crash part-way leaves it for cleanup_incomplete.
  write_file_atomic(layer_path(id) + "/" + kIncomplete, "", 0600);
  remove_layer_locked(id);
}

void DriverBase::remove_layer_locked(const std::string& id) {
  unsynced_gen_.erase(id);
  {
    Fd ldir = open_layer_dir(id);
    destroy_layer(id, ldir.get());
  }
  image::remove_tree_at(layers_fd_.get(), id, layer_path(id), "remove layer " + id + ": ");
}

void DriverBase::cleanup_incomplete() {
  std::vector<std::pair<std::string, std::uint64_t>> to_sync;
  {
    std::lock_guard lock(mu_);
    std::vector<std::string> kept;  // durable, or unsynced from this boot
    for (const auto& name : list_dir(layers_fd_.get(), dir_ + "/layers")) {
      if (name.starts_with(kTmpPrefix)) {
        image::remove_tree_at(layers_fd_.get(), name, dir_ + "/layers/" + name);
        continue;
      }
      if (!layer_id_ok(name)) continue;
      switch (layer_state_locked(name)) {
        case LayerState::kMissing:
          break;
        case LayerState::kIncomplete:
          remove_layer_locked(name);
          break;
        case LayerState::kUnsynced: {
          std::string boot;
          try {
            boot = trim_ws(read_file(layer_path(name) + "/" + kUnsynced));
          } catch (const SystemError&) {  // unreadable: treated like another boot's
          }
          if (boot == boot_id_) {
            kept.push_back(name);
          } else {
            remove_layer_locked(name);
          }
          break;
        }
        case LayerState::kDurable:
          kept.push_back(name);
          break;
      }
    }
    // A layer on top of a removed (or otherwise missing) parent cannot be used: remove it too,
    // until every kept layer's chain is whole.
    for (bool removed = true; removed;) {
      removed = false;
      for (auto it = kept.begin(); it != kept.end();) {
        std::string parent;
        try {
          parent = parent_of(*it);
        } catch (const std::exception&) {
          ++it;  // unreadable parent file: left alone, as before
          continue;
        }
        if (!parent.empty() && layer_state_locked(parent) == LayerState::kMissing) {
          remove_layer_locked(*it);
          it = kept.erase(it);
          removed = true;
        } else {
          ++it;
        }
      }
    }
    // This boot's unsynced layers, base layers first (sync_and_finalize's order).
    std::vector<std::pair<std::size_t, std::string>> by_depth;
    for (const auto& name : kept) {
      if (layer_state_locked(name) != LayerState::kUnsynced) continue;
      std::size_t depth = 0;
      try {
        for (std::string p = parent_of(name); !p.empty() && depth <= kMaxChain; p = parent_of(p)) ++depth;
      } catch (const std::exception&) {
      }
      by_depth.emplace_back(depth, name);
    }
    std::sort(by_depth.begin(), by_depth.end());
    for (auto& [depth, name] : by_depth) to_sync.emplace_back(std::move(name), 0);
    for (const auto& name : list_dir(containers_fd_.get(), dir_ + "/containers")) {
      if (name.starts_with(kTmpPrefix)) {
        image::remove_tree_at(containers_fd_.get(), name, dir_ + "/containers/" + name);
      }
    }
  }
  if (!to_sync.empty()) sync_and_finalize(to_sync);
}

std::string DriverBase::create_rootfs(const std::string& cid, const std::string& layer) {
  validate_container_id(cid);
  validate_layer_id(layer);
  std::lock_guard lock(mu_);
  bool complete = false;
  if (!(layer_exists_locked(layer, &complete) && complete)) {
    throw not_found("storage: layer " + layer + " for container " + cid + " does not exist");
  }
  struct stat st {};
  if (lstat_at(containers_fd_.get(), cid, st, container_path(cid))) {
    throw conflict("storage: container " + cid + " already has a rootfs");
  }
  const std::string tmp = kTmpPrefix + cid;
  const std::string tmp_path = dir_ + "/containers/" + tmp;
  image::remove_tree_at(containers_fd_.get(), tmp, tmp_path);
  if (::mkdirat(containers_fd_.get(), tmp.c_str(), 0700) != 0) throw SystemError(errno, "mkdir", tmp_path);
  try {
    write_file_atomic(tmp_path + "/layer", layer, 0600);
    if (::renameat(containers_fd_.get(), tmp.c_str(), containers_fd_.get(), cid.c_str()) != 0) {
      throw SystemError(errno, "rename " + tmp_path + " to", container_path(cid));
    }
  } catch (...) {
    try {
      image::remove_tree_at(containers_fd_.get(), tmp, tmp_path);
    } catch (...) {
    }
    throw;
  }
  Fd cdir = open_container_dir(cid);
  try {
    return make_rootfs(cid, layer, cdir.get());
  } catch (...) {
    try {
      destroy_rootfs(cid, cdir.get());
      cdir.reset();
      image::remove_tree_at(containers_fd_.get(), cid, container_path(cid));
    } catch (...) {  // left for remove_rootfs
    }
    throw;
  }
}

void DriverBase::remove_rootfs(const std::string& cid) {
  validate_container_id(cid);
  std::lock_guard lock(mu_);
  {
    Fd cdir = open_container_dir(cid);
    destroy_rootfs(cid, cdir.get());
  }
  image::remove_tree_at(containers_fd_.get(), cid, container_path(cid), "remove rootfs of " + cid + ": ");
}

}  // namespace bocker::storage::detail
