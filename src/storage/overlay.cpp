// The overlay2 driver: every layer is its own diff dir (whiteouts as 0/0 char devices, opaque dirs
// marked with trusted.overlay.opaque); a container rootfs is an overlay mount of the layer chain
// with its own upper and work dirs.
//
// Each layer also has a short symlink l/<name> -> ../layers/<id>/diff, and the lowerdir option lists
// those short names, so that long chains fit the one-page limit of mount(2) options. When even the
// absolute paths are too long, the names are given through /proc/self/fd/<fd of the storage dir>,
// which fits about 110 layers; longer chains are refused with a clear error.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <random>
#include <string_view>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "common.hpp"

namespace bocker::storage::detail {

namespace {

constexpr std::size_t kLinkLen = 12;

std::string random_link_name() {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(kLinkLen, 'A');
  for (auto& c : s) c = kChars[rng() % (sizeof kChars - 1)];
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class OverlayDriver final : public DriverBase {
 public:
  explicit OverlayDriver(const std::string& dir) : DriverBase(dir) {
    if (dir_.find_first_of(",:") != std::string::npos) {
      throw invalid("storage: overlay2 cannot use " + dir_ + ": the path contains ',' or ':'");
    }
    make_dirs(dir_ + "/l", 0700);
    links_fd_ = Fd(::open((dir_ + "/l").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!links_fd_) throw SystemError(errno, "open directory", dir_ + "/l");
    dir_fd_ = Fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd_) throw SystemError(errno, "open directory", dir_);
  }

  std::string name() const override { return "overlay2"; }

  void cleanup_incomplete() override {
    DriverBase::cleanup_incomplete();
    std::lock_guard lock(mu_);
    // Short links whose layer is gone (a crash between a layer's symlink and its link file).
    for (const auto& name : list_dir(links_fd_.get(), dir_ + "/l")) {
      struct stat st {};
      if (!lstat_at(links_fd_.get(), name, st, dir_ + "/l/" + name) || !S_ISLNK(st.st_mode)) continue;
      if (::fstatat(links_fd_.get(), name.c_str(), &st, 0) == 0 || errno != ENOENT) continue;
      if (::unlinkat(links_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
        throw SystemError(errno, "unlink", dir_ + "/l/" + name);
      }
    }
  }
  image::WhiteoutMode whiteout_mode() const override { return image::WhiteoutMode::kOverlay; }

  void mount_rootfs(const std::string& cid) override {
    validate_container_id(cid);
    std::lock_guard lock(mu_);
    (void)open_container_dir(cid);
    if (is_mount_point(merged_path(cid))) return;
    mount_overlay(cid, layer_of(cid));
  }

  void unmount_rootfs(const std::string& cid) override {
    validate_container_id(cid);
    std::lock_guard lock(mu_);
    (void)open_container_dir(cid);
    unmount(cid);
  }

  void diff_rootfs(const std::string& cid, image::TarWriter& out) override {
    validate_container_id(cid);
    Fd cdir = open_container_dir(cid);
    Fd upper = open_dir_at(cdir.get(), "upper", container_path(cid) + "/upper");
    write_overlay_diff(upper.get(), out);
    out.close();
  }

  std::uint64_t layer_size(const std::string& id) const override {
    validate_layer_id(id);
    Fd diff = open_dir_at(layers_fd_.get(), id + "/diff", layer_path(id) + "/diff");
    return tree_bytes(diff.get());
  }

 protected:
  bool needs_committed_parent() const override { return false; }

  Fd make_layer(const std::string& id, const std::string&, int ldir_fd) override {
    const std::string path = layer_path(id);
    if (::mkdirat(ldir_fd, "diff", 0755) != 0) throw SystemError(errno, "mkdir", path + "/diff");
    const std::string target = "../layers/" + id + "/diff";
    for (int attempt = 0;; ++attempt) {
      std::string link = random_link_name();
      // First, so destroy_layer finds the symlink. Not synced: a layer is synced when committed,
      // and a crash before that leaves at most a dangling l/ symlink, which cleanup removes.
      write_file_at(ldir_fd, "link", link, path + "/link", false);
      if (::symlinkat(target.c_str(), links_fd_.get(), link.c_str()) == 0) break;
      if (errno != EEXIST || attempt == 16) throw SystemError(errno, "symlink", dir_ + "/l/" + link);
    }
    return open_dir_at(ldir_fd, "diff", path + "/diff");
  }

  // Nothing to seal: a diff dir is only ever a read-only lower dir (sync_layers syncs it).
  void seal_layer(const std::string&, int) override {}

  void destroy_layer(const std::string& id, int ldir_fd) override {
    struct stat st {};
    if (!lstat_at(ldir_fd, "link", st, layer_path(id) + "/link")) return;
    const std::string link = trim(read_file(layer_path(id) + "/link"));
    if (link.empty() || link.find('/') != std::string::npos || link[0] == '.') return;
    // Only our own symlink: a name that collided with another layer's stays.
    char target[256];
    ssize_t n = ::readlinkat(links_fd_.get(), link.c_str(), target, sizeof target);
    if (n < 0 && errno == ENOENT) return;
    if (n < 0) throw SystemError(errno, "readlink", dir_ + "/l/" + link);
    if (std::string_view(target, static_cast<std::size_t>(n)) != "../layers/" + id + "/diff") return;
    if (::unlinkat(links_fd_.get(), link.c_str(), 0) != 0 && errno != ENOENT) {
      throw SystemError(errno, "unlink", dir_ + "/l/" + link);
    }
  }

  std::string make_rootfs(const std::string& cid, const std::string& layer, int cdir_fd) override {
    for (const char* d : {"upper", "work", "merged"}) {
      if (::mkdirat(cdir_fd, d, 0755) != 0) throw SystemError(errno, "mkdir", container_path(cid) + "/" + d);
    }
    mount_overlay(cid, layer);
    return merged_path(cid);
  }

  void destroy_rootfs(const std::string& cid, int) override { unmount(cid); }

 private:
  std::string merged_path(const std::string& cid) const { return container_path(cid) + "/merged"; }

  // Short link names of layer, its parent, ..., the base layer (overlay's top-to-bottom order).
  std::vector<std::string> lower_links(const std::string& layer) const {
    std::vector<std::string> out;
    for (std::string id = layer; !id.empty(); id = parent_of(id)) {
      if (out.size() > 4096) throw Error("storage: layer chain of " + layer + " loops");
      std::string link = trim(read_file(layer_path(id) + "/link"));
      if (link.size() != kLinkLen)
        throw Error("storage: layer " + id + ": corrupt link file " + layer_path(id) + "/link");
      out.push_back(std::move(link));
    }
    return out;
  }

  void mount_overlay(const std::string& cid, const std::string& layer) {
    const auto links = lower_links(layer);
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::string data;
    for (const std::string& prefix : {dir_ + "/", "/proc/self/fd/" + std::to_string(dir_fd_.get()) + "/"}) {
      data = "lowerdir=";
      for (std::size_t i = 0; i < links.size(); ++i) {
        if (i != 0) data += ':';
        data += prefix + "l/" + links[i];
      }
      data += ",upperdir=" + prefix + "containers/" + cid + "/upper";
      data += ",workdir=" + prefix + "containers/" + cid + "/work";
      if (data.size() < page) break;
    }
    if (data.size() >= page) {
      throw Error(Error::Kind::kUnsupported,
                  "storage: layer " + layer + " has " + std::to_string(links.size()) +
                      " layers, too many for one overlay mount of container " + cid);
    }
    const std::string target = merged_path(cid);
    if (::mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0) {
      throw SystemError(
          errno, "mount overlay (" + std::to_string(links.size()) + " layers of " + layer + ") on", target);
    }
  }

  void unmount(const std::string& cid) {
    const std::string target = merged_path(cid);
    if (::umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
      throw SystemError(errno, "umount", target);
    }
  }

  Fd links_fd_;
  Fd dir_fd_;
};

}  // namespace

std::unique_ptr<Driver> make_overlay_driver(const std::string& dir) {
  return std::make_unique<OverlayDriver>(dir);
}

}  // namespace bocker::storage::detail
