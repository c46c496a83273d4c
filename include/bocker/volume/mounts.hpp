// A container's mounts as the Engine API describes them: HostConfig.Binds ("src:dst[:opts]"),
// HostConfig.Mounts ({Type, Source, Target, ReadOnly, ...}), HostConfig.Tmpfs, HostConfig.VolumesFrom
// ("container[:ro|rw]") and the image's Config.Volumes (anonymous volumes). Parsing is pure and
// throws invalid() with Docker's wording; materialize() creates what the mounts need on disk.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/container/spawn.hpp"

namespace bocker::volume {

class Store;

// One resolved mount of a container, persisted with its record.
struct MountPoint {
  std::string type;         // "bind", "volume" or "tmpfs"
  std::string name;         // volume name; empty for an anonymous volume not created yet
  std::string source;       // host path (bind, or the volume's _data once materialized)
  std::string destination;  // cleaned absolute path inside the container
  std::string mode;         // the options as given ("ro", "z", ...), shown as Mode
  bool rw = true;
  std::string propagation;                 // "rprivate" for binds, "" otherwise
  bool anonymous = false;                  // a volume made for this container: `rm -v` / --rm remove it
  bool create_source = false;              // a -v bind: a missing host directory is created
  std::vector<std::string> tmpfs_options;  // "size=64m", "mode=1777", "noexec", ...
  bool copy_up = false;  // a volume of this container not yet started: gets the image's content

  nlohmann::json to_json() const;  // persisted form
  static MountPoint from_json(const nlohmann::json& j);
  // The container inspect / list entry: Type, Name, Source, Destination, Driver, Mode, RW, Propagation.
  nlohmann::json to_api() const;
  bool operator==(const MountPoint&) const = default;
};

nlohmann::json mounts_to_json(const std::vector<MountPoint>& mounts);
std::vector<MountPoint> mounts_from_json(const nlohmann::json& j);  // skips malformed entries
nlohmann::json mounts_api(const std::vector<MountPoint>& mounts);   // container inspect/list "Mounts"

// "/a/./b/../c/" -> "/a/c". Throws invalid() for a relative path, "/" or a NUL byte.
std::string clean_destination(std::string_view path, std::string_view type = "bind");

// One HostConfig.Binds entry: "/host:/ctr[:opts]" (bind), "name:/ctr[:opts]" (named volume) or
// "/ctr" (anonymous volume). opts: ro, rw, z, Z, nocopy and propagation modes, comma-separated.
MountPoint parse_bind(const std::string& spec);
// One HostConfig.Mounts entry (Type bind, volume or tmpfs).
MountPoint parse_mount(const nlohmann::json& m);
// One HostConfig.Tmpfs entry: destination and "opt,opt=value,...".
MountPoint parse_tmpfs(const std::string& destination, const std::string& options);

struct VolumesFrom {
  std::string container;
  std::optional<bool> rw;  // unset: keep each mount's mode
};
// "container[:ro|rw]"
VolumesFrom parse_volumes_from(const std::string& spec);

// Every mount of a new container: Binds, Mounts and Tmpfs (a destination used twice is
// invalid), then the mounts of each VolumesFrom container (`mounts_of` returns them or throws
// not_found), then an anonymous volume for each image/Config volume path not covered yet.
// Pure: nothing is created.
std::vector<MountPoint> plan(const nlohmann::json& host_config, const std::vector<std::string>& image_volumes,
                             const std::function<std::vector<MountPoint>(const std::string&)>& mounts_of);

// Blocking. Creates what the mounts need: anonymous and named volumes (a missing named volume
// is created), the host directory of -v binds; a missing --mount bind source is invalid. Fills
// in `source` of volume mounts. On failure everything it created is removed again and the
// error rethrown. Returns the names of the volumes it created.
std::vector<std::string> materialize(std::vector<MountPoint>& mounts, Store& store);

// Blocking, before a start: a -v bind's missing host directory is created again (as Docker
// does); a missing --mount bind source or volume directory is invalid().
void check_sources(const std::vector<MountPoint>& mounts);

// Blocking. Docker's copy-up: when `volume_dir` is empty, the content of `destination` in the
// image (resolved inside `rootfs`; symlinks never followed out of it) is copied into it with
// owners, modes and times. False when nothing was copied (volume not empty, path missing).
bool copy_up(const std::string& rootfs, const std::string& destination, const std::string& volume_dir);

// What spawn() gets for one mount; parents before children (sorted by destination depth).
std::vector<container::Mount> spawn_mounts(const std::vector<MountPoint>& mounts);

}  // namespace bocker::volume
