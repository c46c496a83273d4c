// A container's mounts: validated and materialized at create (volumes created on first use,
// removed again when the create fails), checked and handed to spawn() at start, anonymous
// volumes removed with `rm -v` / --rm, and which containers use a volume.
#include <algorithm>

#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/volume/store.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

using nlohmann::json;

std::vector<std::string> ContainerService::volume_users(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [id, c] : by_id_) {
    bool uses = std::any_of(c->mounts.begin(), c->mounts.end(), [&name](const volume::MountPoint& m) {
      return m.type == "volume" && m.name == name;
    });
    if (uses) out.push_back(id);
  }
  return out;
}

rt::Task<std::vector<volume::MountPoint>> ContainerService::create_mounts(std::vector<volume::MountPoint> mounts,
                                                                         std::vector<std::string>& created) {
  // Planned and validated by parse_create (create_spec.cpp): nothing was created for a bad mount.
  if (mounts.empty()) co_return mounts;
  bool needs_store =
      std::any_of(mounts.begin(), mounts.end(), [](const auto& m) { return m.type == "volume"; });
  if (needs_store && volumes_ == nullptr) throw Error("volumes are not available in this daemon");
  volume::Store* store = volumes_;
  std::vector<std::string> made = co_await rt::offload([&mounts, store] {
    if (store == nullptr) {  // binds and tmpfs only
      volume::check_sources(mounts);
      return std::vector<std::string>{};
    }
    return volume::materialize(mounts, *store);
  });
  created = made;
  co_return mounts;
}

rt::Task<void> ContainerService::drop_volumes(std::vector<std::string> names, std::string except_id) {
  if (volumes_ == nullptr) co_return;
  for (const auto& n : names) {
    std::vector<std::string> users = volume_users(n);
    std::erase(users, except_id);
    if (!users.empty()) {
      log_line("volume " + n + " stays: used by " + users.front().substr(0, 12));
      continue;
    }
    volume::Store* store = volumes_;
    try {
      co_await rt::offload([store, &n] { store->remove(n, true, {}); });
    } catch (const std::exception& e) {
      log_line("volume " + n + ": " + e.what());
    }
  }
}

rt::Task<std::vector<container::Mount>> ContainerService::start_mounts(Container& c) {
  if (c.mounts.empty()) co_return std::vector<container::Mount>{};
  // The worker gets copies: the loop may read the record meanwhile.
  std::vector<volume::MountPoint> mounts = c.mounts;
  std::string rootfs = c.rootfs;
  for (auto& m : c.mounts) m.copy_up = false;  // Docker's copy-up happens once per container
  co_await rt::offload([&mounts, &rootfs] {
    volume::check_sources(mounts);
    for (const auto& m : mounts) {
      if (m.type == "volume" && m.copy_up) volume::copy_up(rootfs, m.destination, m.source);
    }
  });
  co_return volume::spawn_mounts(mounts);
}

rt::Task<void> ContainerService::remove_anonymous_volumes(const Container& c) {
  std::vector<std::string> names;
  for (const auto& m : c.mounts) {
    if (m.type == "volume" && m.anonymous && !m.name.empty()) names.push_back(m.name);
  }
  co_await drop_volumes(std::move(names), c.id);
}

}  // namespace bocker::daemon
