// Internal to bocker_storage: shared layer/container bookkeeping and file-tree helpers.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bocker/image/tar.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/storage/driver.hpp"

namespace bocker::storage::detail {

void validate_layer_id(const std::string& id);
void validate_container_id(const std::string& id);

// Names in a directory (no "." / ".."), sorted. `what` names it in errors.
std::vector<std::string> list_dir(int dir_fd, const std::string& what);
// lstat of name in dir_fd; false when it does not exist.
bool lstat_at(int dir_fd, const std::string& name, struct stat& st, const std::string& what);
Fd open_dir_at(int dir_fd, const std::string& name, const std::string& what);
std::string join(const std::string& a, const std::string& b);

// Creates (or truncates) name in dir_fd with `data`, mode 0600; fsyncs it when `sync`. `what`
// names it in errors.
void write_file_at(int dir_fd, const std::string& name, std::string_view data, const std::string& what,
                   bool sync);

// True when `path` (absolute, canonical) is a mount point in /proc/self/mountinfo.
bool is_mount_point(const std::string& path);

// Regular-file bytes added or changed in `upper` relative to `lower` (-1 = nothing below).
std::uint64_t changed_bytes(int lower_fd, int upper_fd);
// Changes of the tree `upper_fd` relative to `lower_fd`, parents before children, names sorted.
std::vector<image::TarChange> compare_trees(int lower_fd, int upper_fd);
// Writes an overlay upper dir as a layer diff: 0/0 char devices -> whiteouts, opaque dirs ->
// ".wh..wh..opq", trusted.overlay.* xattrs dropped. Does not close `out`.
void write_overlay_diff(int upper_fd, image::TarWriter& out);
// Sum of the sizes of the regular files below dir_fd (each inode once).
std::uint64_t tree_bytes(int dir_fd);

// Layer and container bookkeeping shared by both drivers (layout in driver.hpp).
class DriverBase : public Driver {
 public:
  // btrfs snapshots its parent's tree, so begin_layer needs the parent committed; overlay2
  // layers are independent diff dirs, so a child may begin while its parent is still being
  // written (only commit_layer waits for the parent's commit).
  virtual bool needs_committed_parent() const { return true; }
  bool has_layer(const std::string& id) const override;
  Fd begin_layer(const std::string& id, const std::string& parent) override;
  void commit_layer(const std::string& id) override;
  void commit_layer_unsynced(const std::string& id) override;
  void sync_layers(const std::string& id) override;
  void abort_layer(const std::string& id) override;
  void remove_layer(const std::string& id) override;
  void cleanup_incomplete() override;
  std::string create_rootfs(const std::string& container_id, const std::string& layer) override;
  void remove_rootfs(const std::string& container_id) override;

 protected:
  explicit DriverBase(std::string dir);  // <root>/<driver name>, created and canonical

  // Driver hooks, called with mu_ held. ldir/cdir: layers/<id> or containers/<cid> (exist).
  // Creates the layer's tree in ldir (fd given) and returns the fd to extract into.
  virtual Fd make_layer(const std::string& id, const std::string& parent, int ldir_fd) = 0;
  // Makes a complete layer unchangeable (btrfs: read-only). Syncing is DriverBase's.
  virtual void seal_layer(const std::string& id, int ldir_fd) = 0;
  // Removes ldir's driver-owned content (subvolumes, links); the rest is removed afterwards.
  virtual void destroy_layer(const std::string& id, int ldir_fd) = 0;
  virtual std::string make_rootfs(const std::string& cid, const std::string& layer, int cdir_fd) = 0;
  virtual void destroy_rootfs(const std::string& cid, int cdir_fd) = 0;

  std::string layer_path(const std::string& id) const { return dir_ + "/layers/" + id; }
  std::string container_path(const std::string& cid) const { return dir_ + "/containers/" + cid; }
  enum class LayerState { kMissing, kIncomplete, kUnsynced, kDurable };
  LayerState layer_state_locked(const std::string& id) const;
  // complete: unsynced or durable.
  bool layer_exists_locked(const std::string& id, bool* complete) const;
  std::string parent_of(const std::string& id) const;  // "" for a base layer
  std::string layer_of(const std::string& cid) const;  // the container's layer; kNotFound if none
  Fd open_layer_dir(const std::string& id) const;
  Fd open_container_dir(const std::string& cid) const;

  std::string dir_;
  std::string boot_id_;  // /proc/sys/kernel/random/boot_id: tells this boot's unsynced layers apart
  Fd layers_fd_;
  Fd containers_fd_;
  mutable std::mutex mu_;

 private:
  void remove_layer_locked(const std::string& id);
  // syncfs of the storage file system, then the markers of `ids` (base layer first) are removed
  // unless the layer was removed or committed again meanwhile. Called without mu_ held.
  // `unsynced`: layer id and its commit generation (0: committed by an earlier daemon).
  void sync_and_finalize(const std::vector<std::pair<std::string, std::uint64_t>>& unsynced);

  // Generation of each layer committed unsynced by this process (erased when it is removed): a
  // marker is only removed when the sync that covered it saw the same generation.
  std::unordered_map<std::string, std::uint64_t> unsynced_gen_;
  std::uint64_t next_gen_ = 1;
};

// This boot's id (/proc/sys/kernel/random/boot_id, trimmed); throws when it cannot be read.
std::string boot_id();

std::unique_ptr<Driver> make_btrfs_driver(const std::string& dir);
std::unique_ptr<Driver> make_overlay_driver(const std::string& dir);

}  // namespace bocker::storage::detail
