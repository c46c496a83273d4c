// What the /volumes routes need from the engine (the daemon implements it; route tests can fake it).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bocker/runtime/task.hpp"

namespace bocker::api {

class VolumeBackend {
 public:
  virtual ~VolumeBackend() = default;
  // GET /volumes: {"Volumes": [...], "Warnings": []}. `filters` is the decoded filters query
  // ({"name": ["x"], "dangling": ["true"], "label": ["k=v"], "driver": ["local"]}), or null.
  virtual rt::Task<nlohmann::json> list(nlohmann::json filters) = 0;
  // POST /volumes/create {"Name","Driver","DriverOpts","Labels"}: the Volume object.
  virtual rt::Task<nlohmann::json> create(nlohmann::json body) = 0;
  // GET /volumes/{name}; Error(kNotFound) "get NAME: no such volume".
  virtual rt::Task<nlohmann::json> inspect(std::string name) = 0;
  // DELETE /volumes/{name}?force=; Error(kConflict) "remove NAME: volume is in use - [ids]".
  virtual rt::Task<void> remove(std::string name, bool force) = 0;
  // POST /volumes/prune: {"VolumesDeleted": [...], "SpaceReclaimed": N}. Unused anonymous
  // volumes, or every unused volume with the filter all=true.
  virtual rt::Task<nlohmann::json> prune(nlohmann::json filters) = 0;
};

}  // namespace bocker::api
