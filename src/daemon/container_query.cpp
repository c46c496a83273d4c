#include "bocker/daemon/container_service.hpp"
#include "container_record.hpp"
#include "container_network.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <random>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/cgroup/limits.hpp"
#include "bocker/container/spawn.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"

namespace bocker::daemon {

using nlohmann::json;

rt::Task<json> ContainerService::list(bool all) {
  json out = json::array();
  std::vector<Container*> cs;
  for (const auto& [id, c] : by_id_) {
    if (all || c->running()) cs.push_back(c.get());
  }
  std::sort(cs.begin(), cs.end(), [](Container* a, Container* b) { return a->created_ns > b->created_ns; });
  for (Container* c : cs) {
    std::string status;
    if (c->running()) {
      status = "Up " + human_ago(c->started_ns) + (c->paused ? " (Paused)" : "");
    } else if (c->status == "created") {
      status = "Created";
    } else if (c->status == "restarting") {
      status = "Restarting (" + std::to_string(c->exit_code) + ") " + human_ago(c->finished_ns) + " ago";
    } else {
      status = "Exited (" + std::to_string(c->exit_code) + ") " + human_ago(c->finished_ns) + " ago";
    }
    std::string command;
    for (const auto& a : c->argv) command += (command.empty() ? "" : " ") + a;
    out.push_back({{"Id", c->id},
                   {"Names", {"/" + c->name}},
                   {"Image", c->image},
                   {"ImageID", c->image_id},
                   {"Command", command},
                   {"Created", c->created_ns / 1'000'000'000},
                   {"State", c->running() && c->paused ? "paused" : c->status},
                   {"Status", status},
                   {"Ports", NetworkManager::ports(*c)},
                   {"Labels", c->config.value("Labels", json::object())},
                   {"Mounts", volume::mounts_api(c->mounts)},
                   {"HostConfig", {{"NetworkMode", c->host_config.value("NetworkMode", "default")}}},
                   {"NetworkSettings", {{"Networks", NetworkManager::list_networks(*c)}}}});
  }
  co_return out;
}

rt::Task<json> ContainerService::inspect(std::string name) {
  Container& c = find(name);
  std::vector<std::string> args(c.argv.begin() + (c.argv.empty() ? 0 : 1), c.argv.end());
  json hc = c.host_config;
  if (!hc.contains("NetworkMode")) hc["NetworkMode"] = "default";
  if (!hc.contains("AutoRemove")) hc["AutoRemove"] = false;
  if (!hc.contains("RestartPolicy")) hc["RestartPolicy"] = {{"Name", "no"}, {"MaximumRetryCount", 0}};
  co_return json{
      {"Id", c.id},
      {"Created", rfc3339_nano(c.created_ns)},
      {"Path", c.argv.empty() ? "" : c.argv[0]},
      {"Args", args},
      {"State",
       {{"Status", c.running() && c.paused ? "paused" : c.status},
        {"Running", c.running()},
        {"Paused", c.running() && c.paused},
        {"Restarting", c.status == "restarting"},
        {"OOMKilled", c.oom_killed},
        {"Dead", false},
        {"Pid", c.pid},
        {"ExitCode", c.exit_code},
        {"Error", c.error},
        {"StartedAt", rfc3339_nano(c.started_ns)},
        {"FinishedAt", rfc3339_nano(c.finished_ns)}}},
      {"Image", c.image_id},
      {"ResolvConfPath", ""},
      {"HostnamePath", ""},
      {"HostsPath", ""},
      {"LogPath", c.dir + "/container.log"},
      {"Name", "/" + c.name},
      {"RestartCount", c.restart_count},
      {"Driver", images_.driver_name()},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"HostConfig", hc},
      {"GraphDriver", {{"Name", images_.driver_name()}, {"Data", {{"MergedDir", c.rootfs}}}}},
      {"Mounts", volume::mounts_api(c.mounts)},
      {"Config", c.config},
      {"NetworkSettings", NetworkManager::settings(c)},
  };
}

}  // namespace bocker::daemon
