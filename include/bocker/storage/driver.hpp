// Storage drivers: image layers and container root filesystems on btrfs subvolumes or overlayfs.
//
// Everything here blocks (mounts, snapshots, tree walks): call it from a worker thread. One Driver
// may be used from several threads at once; metadata changes are serialised inside it.
//
// On-disk layout below <root>/<driver name>/:
//   layers/<id>/parent       parent layer id ("" for a base layer), written atomically
//   layers/<id>/incomplete   present from begin_layer until commit_layer; holds the boot id
//   layers/<id>/unsynced     commit_layer_unsynced renames "incomplete" to this: the content is
//                            complete but maybe not on disk yet; removed by sync_layers
//   layers/<id>/fs           btrfs: the layer's full tree (a subvolume, read-only once committed)
//   layers/<id>/diff         overlay: the layer's own diff (whiteouts as 0/0 char devices)
//   layers/<id>/link         overlay: short name of the layer's l/<name> symlink to its diff
//   containers/<cid>/layer   the layer the rootfs was created from
//   containers/<cid>/rootfs  btrfs: writable snapshot of the layer
//   containers/<cid>/{upper,work,merged}  overlay: upper/work dirs and the mounted merged view
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::storage {

class Driver {
 public:
  virtual ~Driver() = default;
  // "btrfs" or "overlay2" (what docker info shows).
  virtual std::string name() const = 0;
  // How layer tars must be extracted into begin_layer's directory: kApply (btrfs), kOverlay (overlay2).
  virtual image::WhiteoutMode whiteout_mode() const = 0;

  // Layers, keyed by a caller-chosen id ([a-z0-9]{1,128}, e.g. a chain id hex string).
  // True for a committed layer only (an unsynced one counts: its content is complete).
  virtual bool has_layer(const std::string& id) const = 0;
  // Starts layer `id` on top of `parent` ("" = base layer) and returns an O_DIRECTORY fd of the
  // directory the layer tar must be extracted into. Errors: kInvalid (bad id), kConflict (id exists),
  // kNotFound (parent missing or not committed).
  virtual Fd begin_layer(const std::string& id, const std::string& parent) = 0;
  // Marks a begun layer complete (btrfs: the subvolume becomes read-only) and durable: like
  // commit_layer_unsynced, then sync_layers(id).
  virtual void commit_layer(const std::string& id) = 0;
  // Marks a begun layer complete without waiting for its content to reach the disk: it counts as
  // present at once (has_layer, parent of new layers, child commits) and is marked "unsynced" until
  // sync_layers() covers it, so that the layers of one pull cost one syncfs instead of one each.
  // Errors: kNotFound (not begun), kConflict (already committed; overlay2: parent not committed).
  virtual void commit_layer_unsynced(const std::string& id) = 0;
  // Makes layer `id` and every layer below it durable: one syncfs when any of them is unsynced,
  // then their markers are removed (base layer first, each directory fsynced). Only after this may
  // anything that names the layers (an image record) be written. kNotFound when id or a layer below
  // it is missing, kConflict when one is still being written.
  virtual void sync_layers(const std::string& id) = 0;
  // Removes a begun, uncommitted layer. kNotFound if there is none.
  virtual void abort_layer(const std::string& id) = 0;
  // Removes a committed layer. kConflict while a child layer or container rootfs uses it.
  virtual void remove_layer(const std::string& id) = 0;
  // Crash recovery; call at start, before other use. Removes layers begun but never committed.
  // An unsynced layer from this boot (only the daemon died; the page cache still holds its
  // content) is synced and kept; one from an earlier boot (its content may be lost) is removed,
  // and so is every layer on top of a removed or missing parent.
  virtual void cleanup_incomplete() = 0;

  // Container root filesystems. container_id: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}.
  // Creates the container's rootfs on top of committed `layer` and returns its path (overlay: mounted).
  virtual std::string create_rootfs(const std::string& container_id, const std::string& layer) = 0;
  // overlay: mounts the merged dir unless already mounted (after a daemon restart/reboot); btrfs: no-op.
  virtual void mount_rootfs(const std::string& container_id) = 0;
  // overlay: lazily unmounts the merged dir (not mounted is fine); btrfs: no-op.
  virtual void unmount_rootfs(const std::string& container_id) = 0;
  // Unmounts (overlay) and removes everything of the container's rootfs. kNotFound if none.
  virtual void remove_rootfs(const std::string& container_id) = 0;
  // Writes the changes of the container's rootfs relative to its layer as a layer tar (deletions as
  // ".wh." whiteouts, overlay opaque dirs as ".wh..wh..opq") and closes the stream.
  virtual void diff_rootfs(const std::string& container_id, image::TarWriter& out) = 0;

  // Bytes in the layer's own diff: sizes of the regular files it adds or changes (best effort).
  virtual std::uint64_t layer_size(const std::string& id) const = 0;
};

// Opens (creating it if needed) the storage below `root` (<daemon root>/storage).
// name: "" picks btrfs when `root` is on btrfs, else overlay2; "btrfs"; "overlay2" or "overlay".
// Asking for btrfs on a non-btrfs root is an Error(kUnsupported) naming the root and its fs type;
// an unknown name is kInvalid.
std::unique_ptr<Driver> open_driver(const std::string& root, const std::string& name);

}  // namespace bocker::storage
