#include "bocker/api/system.hpp"

#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "bocker/build_info.hpp"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace bocker::api {

namespace {
std::string os_release(const std::string& key) {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) {
      std::string v = line.substr(key.size() + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return {};
}
}  // namespace

std::string go_arch(std::string_view m) {
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  return std::string(m);
}

std::string server_header() { return std::string("bocker/") + build::kVersion + " (linux)"; }

HostFacts read_host_facts() {
  HostFacts h;
  utsname u{};
  if (::uname(&u) == 0) {
    h.kernel_version = u.release;
    h.architecture = u.machine;
    h.hostname = u.nodename;
  }
  h.operating_system = os_release("PRETTY_NAME");
  h.os_version = os_release("VERSION_ID");
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  h.ncpu = n > 0 ? static_cast<int>(n) : 1;
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) h.mem_total = static_cast<long long>(pages) * page;
  struct statfs fs{};
  if (::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) h.cgroup_version = 2;
  return h;
}

nlohmann::json version_json(const HostFacts& host) {
  return {
      {"Platform", {{"Name", "bocker"}}},
      {"Version", build::kVersion},
      {"ApiVersion", kApiVersion},
      {"MinAPIVersion", kMinApiVersion},
      {"GitCommit", build::kGitCommit},
      {"GoVersion", "n/a (C++20)"},
      {"Os", "linux"},
      {"Arch", go_arch(host.architecture)},
      {"KernelVersion", host.kernel_version},
      {"BuildTime", build::kBuildTime},
  };
}

nlohmann::json info_json(const HostFacts& host, const EngineState& e) {
  return {
      {"ID", e.id},
      {"Containers", e.containers},
      {"ContainersRunning", e.running},
      {"ContainersPaused", e.paused},
      {"ContainersStopped", e.stopped},
      {"Images", e.images},
      {"Driver", e.storage_driver},
      {"DriverStatus", nlohmann::json::array()},
      {"Plugins",
       {{"Volume", {"local"}}, {"Network", {"bridge", "host", "null"}}, {"Authorization", nullptr}, {"Log", {"bocker"}}}},
      {"MemoryLimit", true},
      {"SwapLimit", false},
      {"CpuCfsPeriod", true},
      {"CpuCfsQuota", true},
      {"CPUShares", true},
      {"PidsLimit", true},
      {"IPv4Forwarding", true},
      {"Debug", false},
      {"NFd", 0},
      {"NGoroutines", 0},
      {"SystemTime", ""},
      {"LoggingDriver", "bocker"},
      {"CgroupDriver", "cgroupfs"},
      {"CgroupVersion", std::to_string(host.cgroup_version)},
      {"NEventsListener", 0},
      {"KernelVersion", host.kernel_version},
      {"OperatingSystem", host.operating_system},
      {"OSVersion", host.os_version},
      {"OSType", "linux"},
      {"Architecture", host.architecture},
      {"IndexServerAddress", "https://index.docker.io/v1/"},
      {"RegistryConfig",
       {{"IndexConfigs", nlohmann::json::object()},
        {"InsecureRegistryCIDRs", {"127.0.0.0/8"}},
        {"Mirrors", nlohmann::json::array()}}},
      {"NCPU", host.ncpu},
      {"MemTotal", host.mem_total},
      {"DockerRootDir", e.root_dir},
      {"Name", host.hostname},
      {"Labels", nlohmann::json::array()},
      {"ExperimentalBuild", false},
      {"ServerVersion", build::kVersion},
      {"Runtimes", {{"bocker", {{"path", "bockerd"}}}}},
      {"DefaultRuntime", "bocker"},
      {"Swarm", {{"LocalNodeState", "inactive"}, {"ControlAvailable", false}, {"NodeID", ""}, {"NodeAddr", ""}}},
      {"LiveRestoreEnabled", true},
      {"Isolation", ""},
      {"InitBinary", ""},
      {"SecurityOptions", {"name=seccomp,profile=builtin", "name=cgroupns"}},
      {"Warnings", nlohmann::json::array()},
  };
}

}  // namespace bocker::api
