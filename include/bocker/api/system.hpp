// The Engine API's system endpoints: /_ping, /version, /info.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace bocker::api {

// API 1.47 (Docker 27): the newest version this engine implements fully. The docker 28
// CLI negotiates down to it and keeps every feature it needs (ConsoleSize needs >= 1.42,
// container/image fields used by `ps`, `images`, `inspect` and `stats` are all in 1.47).
inline constexpr std::string_view kApiVersion = "1.47";
inline constexpr std::string_view kMinApiVersion = "1.24";

// Facts about the host, read once at daemon start (blocking: call it off the loop).
struct HostFacts {
  std::string kernel_version;    // uname -r
  std::string operating_system;  // PRETTY_NAME of /etc/os-release
  std::string os_version;        // VERSION_ID
  std::string architecture;      // uname -m
  std::string hostname;
  int ncpu = 1;
  long long mem_total = 0;  // bytes
  int cgroup_version = 1;   // 2 when /sys/fs/cgroup is the unified hierarchy
};
HostFacts read_host_facts();

// What the engine reports about itself for /info.
struct EngineState {
  std::string id;  // persistent engine id
  std::string root_dir;
  std::string storage_driver = "btrfs";
  int containers = 0, running = 0, paused = 0, stopped = 0, images = 0;
};

// `Server` header value: the CLI picks its stats formula from the "(linux)" part.
std::string server_header();
// "amd64" for x86_64, as Go names it.
std::string go_arch(std::string_view uname_machine);

nlohmann::json version_json(const HostFacts& host);
nlohmann::json info_json(const HostFacts& host, const EngineState& engine);

}  // namespace bocker::api
