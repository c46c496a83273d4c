// Named volumes of the "local" driver: <root>/volumes/<name>/_data holds the data and
// <root>/volumes/<name>/meta.json (written atomically) what `docker volume inspect` shows.
//
// Blocking: call the methods that touch the disk (create, remove, the constructor) through
// offload() or at startup. All methods are thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::volume {

// Docker marks volumes created for a container's anonymous mounts with this label.
inline constexpr const char* kAnonymousLabel = "com.docker.volume.anonymous";

struct Volume {
  std::string name;
  std::string driver = "local";
  std::string mountpoint;  // <root>/volumes/<name>/_data
  std::string created_at;  // RFC 3339
  std::map<std::string, std::string> labels, options;
  bool anonymous() const { return labels.count(kAnonymousLabel) != 0; }
  // The Engine API's Volume object: Name, Driver, Mountpoint, CreatedAt, Labels, Options, Scope.
  nlohmann::json to_api() const;
};

// Docker's rule for local volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (at least two characters).
bool valid_name(std::string_view name);
// Throws invalid() with Docker's message when `name` is not a valid volume name.
void check_name(const std::string& name);
// 64 random hex digits.
std::string random_name();

class Store {
 public:
  // Loads <root>/volumes (created when missing). Directories a crash left half-created go.
  explicit Store(std::string root);

  struct Created {
    Volume volume;
    bool created = false;  // false: the volume existed already (create is idempotent)
  };
  // Creates the volume, or returns the existing one of that name. An empty name gets a random
  // one. Throws invalid() for a bad name, a driver other than "local" or driver options.
  Created create(std::string name, const std::map<std::string, std::string>& labels = {},
                 const std::map<std::string, std::string>& options = {}, const std::string& driver = "local");
  // An anonymous volume (random name, the anonymous label).
  Volume create_anonymous();

  std::optional<Volume> find(const std::string& name) const;
  // Throws not_found("get NAME: no such volume").
  Volume get(const std::string& name) const;
  std::vector<Volume> list() const;  // sorted by name
  std::string path(const std::string& name) const { return dir_ + "/" + name + "/_data"; }

  // Removes the volume and its data. `users` are the containers that use it (from the daemon):
  // non-empty means conflict("remove NAME: volume is in use - [ids]"). A missing volume is
  // not_found unless `force`.
  void remove(const std::string& name, bool force, const std::vector<std::string>& users);

  const std::string& dir() const { return dir_; }

 private:
  void load();
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, Volume> volumes_;
};

}  // namespace bocker::volume
