// The /volumes API over a Store. Which containers use a volume comes from the daemon.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bocker/api/volume_backend.hpp"
#include "bocker/volume/store.hpp"

namespace bocker::volume {

class Service final : public api::VolumeBackend {
 public:
  // `users(name)`: ids of the containers (running or not) that mount the volume. Called on
  // the loop thread.
  using UsersFn = std::function<std::vector<std::string>(const std::string& name)>;
  Service(Store& store, UsersFn users) : store_(store), users_(std::move(users)) {}

  rt::Task<nlohmann::json> list(nlohmann::json filters) override;
  rt::Task<nlohmann::json> create(nlohmann::json body) override;
  rt::Task<nlohmann::json> inspect(std::string name) override;
  rt::Task<void> remove(std::string name, bool force) override;
  rt::Task<nlohmann::json> prune(nlohmann::json filters) override;

 private:
  Store& store_;
  UsersFn users_;
};

// Whether `v` passes Docker's volume list filters (name, driver, label, dangling).
// Throws invalid() for an unknown filter.
bool matches(const Volume& v, const nlohmann::json& filters, bool in_use);

}  // namespace bocker::volume
