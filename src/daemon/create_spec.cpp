// POST /containers/create validated without side effects (see create_spec.hpp). The checks that
// other parts of the daemon own are called from here: restart policy (container_restart.cpp), log
// options (container_logs.cpp), ports and network mode (container_network.cpp), mounts
// (volume::plan) and cgroup limits (cgroup::validate).
#include "bocker/daemon/create_spec.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "bocker/daemon/image_service.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "container_logs.hpp"
#include "container_network.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

using nlohmann::json;

namespace {

constexpr std::int64_t kMaxNanoCpus = 1024LL * 1'000'000'000;  // 1024 CPUs
constexpr std::int64_t kMinNanoCpus = 10'000'000;              // 0.01 CPU: a 1 ms quota per 100 ms
constexpr std::size_t kMaxHostname = 64;                       // HOST_NAME_MAX

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

void no_nul(const std::string& s, const std::string& what) {
  if (s.find('\0') != std::string::npos) throw invalid(what + " must not contain a NUL byte");
}

std::string string_field(const json& j, const char* key, const std::string& where) {
  if (!present(j, key)) return {};
  if (!j[key].is_string()) throw invalid(where + key + " must be a string");
  std::string s = j[key].get<std::string>();
  no_nul(s, where + key);
  return s;
}

// The request's Config fields bocker keeps, type-checked (a wrong type would otherwise surface
// as a 500 when start() or inspect reads the record).
json request_config(const json& body) {
  json cfg = json::object();
  for (const char* k : {"Hostname", "Domainname", "User", "WorkingDir", "StopSignal"}) {
    if (present(body, k)) cfg[k] = string_field(body, k, "Config.");
  }
  for (const char* k : {"AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"}) {
    if (!present(body, k)) continue;
    if (!body[k].is_boolean()) throw invalid(std::string("Config.") + k + " must be a boolean");
    cfg[k] = body[k];
  }
  for (const char* k : {"Env", "Cmd", "Entrypoint"}) {
    if (!present(body, k)) continue;
    for (const auto& s : strings_of(body[k], k)) no_nul(s, std::string("Config.") + k);
    cfg[k] = body[k];
  }
  for (const char* k : {"Labels", "ExposedPorts", "Volumes"}) {
    if (!present(body, k)) continue;
    if (!body[k].is_object()) throw invalid(std::string("Config.") + k + " must be an object");
    cfg[k] = body[k];
  }
  const json labels = cfg.value("Labels", json::object());
  for (const auto& [key, v] : labels.items()) {
    if (!v.is_string()) throw invalid("Config.Labels[\"" + key + "\"] must be a string");
  }
  if (present(body, "StopTimeout")) {
    const json& t = body["StopTimeout"];
    if (!t.is_number_integer() || t.get<std::int64_t>() < -1 ||
        t.get<std::int64_t>() > std::numeric_limits<int>::max()) {
      throw invalid("Config.StopTimeout must be an integer of seconds (-1 or more)");
    }
    cfg["StopTimeout"] = t;
  }
  const std::string hostname = cfg.value("Hostname", "");
  if (hostname.size() > kMaxHostname) {
    throw invalid("invalid hostname \"" + hostname.substr(0, kMaxHostname) +
                  "...\": longer than 64 characters");
  }
  const std::string workdir = cfg.value("WorkingDir", "");
  if (!workdir.empty() && workdir[0] != '/') {
    throw invalid("the working directory '" + workdir + "' is invalid, it needs to be an absolute path");
  }
  if (const std::string sig = cfg.value("StopSignal", ""); !sig.empty()) (void)parse_signal(sig);
  return cfg;
}

// HostConfig's limits as start() applies them, in docker's ranges.
cgroup::Limits host_limits(const json& hc) {
  cgroup::Limits l;
  l.memory_bytes = int_field(hc, "Memory");
  if (l.memory_bytes != 0 && l.memory_bytes < kMinMemory)
    throw invalid("Minimum memory limit allowed is 6MB");
  if (l.memory_bytes < 0) throw invalid("invalid memory limit");
  l.memory_swap = int_field(hc, "MemorySwap");
  l.cpu_shares = int_field(hc, "CpuShares");
  if (l.cpu_shares < 0 || l.cpu_shares > cgroup::kMaxCpuShares) {
    throw invalid("CpuShares must be between 2 and 262144");
  }
  std::int64_t nano = int_field(hc, "NanoCpus");
  if (nano < 0 || nano > kMaxNanoCpus || (nano > 0 && nano < kMinNanoCpus)) {
    throw invalid("Range of CPUs is from 0.01 to the number of CPUs available");
  }
  l.cpu_quota_us = int_field(hc, "CpuQuota");
  l.cpu_period_us = int_field(hc, "CpuPeriod");
  if (nano > 0) {
    if (l.cpu_quota_us != 0 || l.cpu_period_us != 0) {
      throw invalid("Conflicting options: NanoCpus cannot be set with CpuQuota or CpuPeriod");
    }
    l.cpu_period_us = cgroup::kDefaultCpuPeriodUs;
    l.cpu_quota_us = nano / 10000;  // nano / 1e9 * 100000
  }
  std::int64_t pids = int_field(hc, "PidsLimit");
  if (pids < -1) throw invalid("PidsLimit must be -1 (unlimited) or positive");
  if (pids > 0) l.pids_limit = pids;
  cgroup::validate(l);  // swap against memory, quota and period ranges
  return l;
}

}  // namespace

std::string create_name(std::string name) {
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  if (name.empty()) return name;
  bool ok = name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0])) &&
            std::all_of(name.begin(), name.end(), [](char ch) {
              return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
            });
  if (!ok) {
    if (name.size() > 200) name = name.substr(0, 200) + "...";
    throw invalid("Invalid container name (" + name + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  }
  return name;
}

std::string create_image(const json& body) {
  if (!body.is_object()) throw invalid("the create request body must be a JSON object");
  if (!body.contains("Image") || !body["Image"].is_string() || body["Image"].get<std::string>().empty()) {
    throw invalid("Config.Image must name an image");
  }
  return body["Image"].get<std::string>();
}

CreateSpec parse_create(const json& body, std::string name, const registry::ImageConfig& image,
                        const MountsOf& mounts_of) {
  CreateSpec s;
  s.name = create_name(std::move(name));
  s.image = create_image(body);

  // HostConfig: every field bocker reads later has the type it expects, nulls are defaults.
  s.host_config = present(body, "HostConfig") ? body["HostConfig"] : json::object();
  json& hc = s.host_config;
  if (!hc.is_object()) throw invalid("HostConfig must be an object");
  for (const char* k : {"AutoRemove", "PublishAllPorts"}) {
    if (!hc.contains(k)) continue;
    if (hc[k].is_null()) hc[k] = false;
    if (!hc[k].is_boolean()) throw invalid(std::string("HostConfig.") + k + " must be a boolean");
  }
  if (hc.contains("NetworkMode") && (hc["NetworkMode"].is_null() || hc["NetworkMode"] == "")) {
    hc["NetworkMode"] = "default";  // as docker: unset is the default network
  }
  s.network_mode = string_field(hc, "NetworkMode", "HostConfig.");
  if (s.network_mode.empty()) s.network_mode = "default";
  if (s.network_mode != "default" && s.network_mode != "bridge" && s.network_mode != "none" &&
      s.network_mode != "host") {
    throw invalid("network " + s.network_mode + " not found");
  }
  s.limits = host_limits(hc);
  NetworkManager::validate(body, hc);  // port bindings and exposed ports (container_network.cpp)
  validate_restart_policy(hc);         // container_restart.cpp
  (void)parse_log_config(hc);          // HostConfig.LogConfig (container_logs.cpp)

  // Config: the request over the image's defaults.
  json cfg = request_config(body);
  const bool entrypoint_given = present(body, "Entrypoint");
  std::vector<std::string> entrypoint =
      entrypoint_given ? strings_of(body["Entrypoint"], "Entrypoint") : image.entrypoint;
  std::vector<std::string> cmd = present(body, "Cmd") ? strings_of(body["Cmd"], "Cmd")
                                 : entrypoint_given   ? std::vector<std::string>{}
                                                      : image.cmd;
  s.argv = entrypoint;
  s.argv.insert(s.argv.end(), cmd.begin(), cmd.end());
  if (s.argv.empty() || s.argv[0].empty()) throw invalid("No command specified");
  std::vector<std::string> env = image.env;
  for (const auto& e : strings_of(body.value("Env", json()), "Env")) {
    auto key = e.substr(0, e.find('='));
    std::erase_if(env, [&key](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    env.push_back(e);
  }
  cfg["Env"] = env;
  cfg["Cmd"] = cmd;
  cfg["Entrypoint"] = entrypoint.empty() ? json() : json(entrypoint);
  cfg["Image"] = s.image;
  if (cfg.value("WorkingDir", "").empty()) cfg["WorkingDir"] = image.working_dir;
  if (cfg.value("User", "").empty()) cfg["User"] = image.user;
  if (!cfg.contains("Tty")) cfg["Tty"] = false;
  if (!cfg.contains("OpenStdin")) cfg["OpenStdin"] = false;
  if (!cfg.contains("Labels")) cfg["Labels"] = json::object();

  // Mounts: Binds, Mounts, Tmpfs, VolumesFrom, then the image's and Config.Volumes' paths.
  std::vector<std::string> image_volumes = image.volumes;
  const json volumes = cfg.value("Volumes", json::object());
  for (const auto& [path, v] : volumes.items()) {
    if (std::find(image_volumes.begin(), image_volumes.end(), path) == image_volumes.end()) {
      image_volumes.push_back(path);
    }
  }
  s.mounts = volume::plan(hc, image_volumes, mounts_of);
  s.config = std::move(cfg);
  return s;
}

std::string commit_reference(const api::CommitRequest& req) {
  std::string ref;
  if (!req.repo.empty()) {
    registry::Reference r =
        registry::parse_reference(req.repo + ":" + (req.tag.empty() ? "latest" : req.tag));
    if (!r.digest.empty()) throw invalid("cannot commit to a digest reference: " + req.repo);
    ref = r.str();
  } else if (!req.tag.empty()) {
    throw invalid("invalid reference format: a tag (" + req.tag + ") needs a repository");
  }
  if (!req.config.is_null() && !req.config.is_object())
    throw invalid("the commit request body must be a JSON object");
  (void)import_config("sha256:" + std::string(64, '0'), req.changes, "", 0);  // validates the changes
  return ref;
}

}  // namespace bocker::daemon
