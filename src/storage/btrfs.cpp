// The btrfs driver: every layer is a subvolume holding its full tree (a snapshot of its parent),
// read-only once committed; a container rootfs is a writable snapshot of its layer.
#include <btrfsutil.h>
#include <fcntl.h>
#include <unistd.h>

#include "bocker/runtime/error.hpp"
#include "common.hpp"

namespace bocker::storage::detail {

namespace {

void check_btrfs(btrfs_util_error err, const std::string& op, const std::string& path) {
  if (err == BTRFS_UTIL_OK) return;
  int e = errno != 0 ? errno : EIO;
  throw SystemError(e, op + " (" + btrfs_util_strerror(err) + ")", path);
}

void delete_subvolume_if_present(int dir_fd, const std::string& name, const std::string& path) {
  struct stat st {};
  if (!lstat_at(dir_fd, name, st, path)) return;
  errno = 0;
  check_btrfs(btrfs_util_delete_subvolume_fd(dir_fd, name.c_str(), BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE),
              "delete btrfs subvolume", path);
}

class BtrfsDriver final : public DriverBase {
 public:
  explicit BtrfsDriver(const std::string& dir) : DriverBase(dir) {}

  std::string name() const override { return "btrfs"; }
  image::WhiteoutMode whiteout_mode() const override { return image::WhiteoutMode::kApply; }

  void mount_rootfs(const std::string& cid) override { check_container(cid); }
  void unmount_rootfs(const std::string& cid) override { check_container(cid); }

  void diff_rootfs(const std::string& cid, image::TarWriter& out) override {
    validate_container_id(cid);
    Fd cdir = open_container_dir(cid);
    const std::string layer = layer_of(cid);
    validate_layer_id(layer);
    Fd rootfs = open_dir_at(cdir.get(), "rootfs", container_path(cid) + "/rootfs");
    Fd lower = open_dir_at(layers_fd_.get(), layer + "/fs", layer_path(layer) + "/fs");
    const auto changes = compare_trees(lower.get(), rootfs.get());
    out.write_changes(rootfs.get(), changes);
    out.close();
  }

  std::uint64_t layer_size(const std::string& id) const override {
    validate_layer_id(id);
    Fd fs = open_dir_at(layers_fd_.get(), id + "/fs", layer_path(id) + "/fs");
    const std::string parent = parent_of(id);
    Fd lower;
    if (!parent.empty()) lower = open_dir_at(layers_fd_.get(), parent + "/fs", layer_path(parent) + "/fs");
    return changed_bytes(lower.get(), fs.get());
  }

 protected:
  Fd make_layer(const std::string& id, const std::string& parent, int ldir_fd) override {
    const std::string path = layer_path(id) + "/fs";
    errno = 0;
    if (parent.empty()) {
      check_btrfs(btrfs_util_create_subvolume_fd(ldir_fd, "fs", 0, nullptr, nullptr),
                  "create btrfs subvolume", path);
    } else {
      Fd src = open_dir_at(layers_fd_.get(), parent + "/fs", layer_path(parent) + "/fs");
      check_btrfs(btrfs_util_create_snapshot_fd2(src.get(), ldir_fd, "fs", 0, nullptr, nullptr),
                  "snapshot btrfs subvolume " + layer_path(parent) + "/fs to", path);
    }
    return open_dir_at(ldir_fd, "fs", path);
  }

  void seal_layer(const std::string& id, int ldir_fd) override {
    const std::string path = layer_path(id) + "/fs";
    Fd fs = open_dir_at(ldir_fd, "fs", path);  // synced later, by sync_layers
    errno = 0;
    check_btrfs(btrfs_util_set_subvolume_read_only_fd(fs.get(), true), "make btrfs subvolume read-only",
                path);
  }

  void destroy_layer(const std::string& id, int ldir_fd) override {
    delete_subvolume_if_present(ldir_fd, "fs", layer_path(id) + "/fs");
  }

  std::string make_rootfs(const std::string& cid, const std::string& layer, int cdir_fd) override {
    const std::string path = container_path(cid) + "/rootfs";
    Fd src = open_dir_at(layers_fd_.get(), layer + "/fs", layer_path(layer) + "/fs");
    errno = 0;
    check_btrfs(btrfs_util_create_snapshot_fd2(src.get(), cdir_fd, "rootfs", 0, nullptr, nullptr),
                "snapshot btrfs subvolume " + layer_path(layer) + "/fs to", path);
    return path;
  }

  void destroy_rootfs(const std::string& cid, int cdir_fd) override {
    delete_subvolume_if_present(cdir_fd, "rootfs", container_path(cid) + "/rootfs");
  }

 private:
  void check_container(const std::string& cid) const {
    validate_container_id(cid);
    (void)open_container_dir(cid);
  }
};

}  // namespace

std::unique_ptr<Driver> make_btrfs_driver(const std::string& dir) {
  return std::make_unique<BtrfsDriver>(dir);
}

}  // namespace bocker::storage::detail
