// open_driver: picks and opens a storage driver for a storage root.
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "common.hpp"

namespace bocker::storage {

namespace {

std::string fs_type_name(long type) {
  switch (static_cast<unsigned long>(type)) {
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case EXT4_SUPER_MAGIC:
      return "ext2/ext3/ext4";
    case TMPFS_MAGIC:
      return "tmpfs";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    case NFS_SUPER_MAGIC:
      return "nfs";
    case 0x2fc12fc1UL:
      return "zfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(type));
      return std::string("unknown file system type ") + buf;
    }
  }
}

bool kernel_has_overlay() {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    if (line.ends_with("\toverlay")) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<Driver> open_driver(const std::string& root, const std::string& name) {
  if (root.empty()) throw invalid("storage: empty storage root");
  if (!name.empty() && name != "btrfs" && name != "overlay2" && name != "overlay") {
    throw invalid("storage: unknown storage driver '" + name + "' (want btrfs or overlay2)");
  }
  make_dirs(root, 0700);
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(root.c_str(), nullptr), &std::free);
  if (!real) throw SystemError(errno, "realpath", root);
  const std::string dir = real.get();
  struct statfs sfs {};
  if (::statfs(dir.c_str(), &sfs) != 0) throw SystemError(errno, "statfs", dir);
  const bool on_btrfs = static_cast<unsigned long>(sfs.f_type) == BTRFS_SUPER_MAGIC;
  std::string pick = name.empty() ? (on_btrfs ? "btrfs" : "overlay2") : name;
  if (pick == "btrfs") {
    if (!on_btrfs) {
      throw Error(Error::Kind::kUnsupported, "storage: driver btrfs needs a btrfs file system, but " + dir +
                                                 " is on " + fs_type_name(sfs.f_type));
    }
    return detail::make_btrfs_driver(dir + "/btrfs");
  }
  if (!kernel_has_overlay()) {
    throw Error(
        Error::Kind::kUnsupported,
        "storage: driver overlay2 needs overlayfs, which this kernel does not list in /proc/filesystems");
  }
  return detail::make_overlay_driver(dir + "/overlay2");
}

}  // namespace bocker::storage
