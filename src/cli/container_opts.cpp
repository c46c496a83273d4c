#include "bocker/cli/container_opts.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>

#include "bocker/cgroup/limits.hpp"

namespace bocker::cli {
namespace {

using Type = FlagSpec::Type;

std::int64_t memory_flag(const ParsedFlags& f, const char* name) {
  std::string v = f.get_string(name);
  if (v == "-1") return -1;
  try {
    return cgroup::parse_memory(v);
  } catch (const Error& e) {
    throw UsageError("invalid argument \"" + v + "\" for \"--" + name + "\" flag: " + e.what());
  }
}

bool parse_port_range(std::string_view s, long& lo, long& hi) {
  auto num = [](std::string_view t, long& out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && ec == std::errc() && p == t.data() + t.size() && out >= 0 && out <= 65535;
  };
  auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    if (!num(s, lo)) return false;
    hi = lo;
    return true;
  }
  return num(s.substr(0, dash), lo) && num(s.substr(dash + 1), hi) && lo <= hi;
}

}  // namespace

std::vector<FlagSpec> container_create_flags() {
  return {
      {.short_name = 'i', .long_name = "interactive", .help = "Keep STDIN open even if not attached"},
      {.short_name = 't', .long_name = "tty", .help = "Allocate a pseudo-TTY"},
      {.long_name = "name", .type = Type::kString, .help = "Assign a name to the container"},
      {.short_name = 'e', .long_name = "env", .type = Type::kList, .help = "Set environment variables"},
      {.long_name = "env-file", .type = Type::kList, .help = "Read in a file of environment variables"},
      {.short_name = 'w',
       .long_name = "workdir",
       .type = Type::kString,
       .help = "Working directory inside the container"},
      {.short_name = 'u',
       .long_name = "user",
       .type = Type::kString,
       .help = "Username or UID (format: <name|uid>[:<group|gid>])"},
      {.long_name = "entrypoint",
       .type = Type::kString,
       .help = "Overwrite the default ENTRYPOINT of the image"},
      {.short_name = 'h', .long_name = "hostname", .type = Type::kString, .help = "Container host name"},
      {.long_name = "rm",
       .help = "Automatically remove the container and its associated anonymous volumes when it exits"},
      {.long_name = "restart",
       .type = Type::kString,
       .help = "Restart policy to apply when a container exits",
       .default_value = "\"no\""},
      {.long_name = "network", .type = Type::kString, .help = "Connect a container to a network"},
      {.long_name = "net", .type = Type::kString, .help = "Connect a container to a network", .hidden = true},
      {.short_name = 'v', .long_name = "volume", .type = Type::kList, .help = "Bind mount a volume"},
      {.long_name = "volumes-from",
       .type = Type::kList,
       .help = "Mount volumes from the specified container(s)"},
      {.short_name = 'p',
       .long_name = "publish",
       .type = Type::kList,
       .help = "Publish a container's port(s) to the host"},
      {.short_name = 'P', .long_name = "publish-all", .help = "Publish all exposed ports to random ports"},
      {.long_name = "expose", .type = Type::kList, .help = "Expose a port or a range of ports"},
      {.short_name = 'l', .long_name = "label", .type = Type::kList, .help = "Set meta data on a container"},
      {.short_name = 'm',
       .long_name = "memory",
       .type = Type::kString,
       .help = "Memory limit",
       .default_value = "$BOCKER_MEM_LIMIT MB, else 512MB",
       .value_name = "bytes"},
      {.long_name = "memory-swap",
       .type = Type::kString,
       .help = "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
       .value_name = "bytes"},
      {.short_name = 'c',
       .long_name = "cpu-shares",
       .type = Type::kInt,
       .help = "CPU shares (relative weight)",
       .default_value = "$BOCKER_CPU_SHARE, else 512"},
      {.long_name = "cpus", .type = Type::kString, .help = "Number of CPUs", .value_name = "decimal"},
      {.long_name = "cpu-quota",
       .type = Type::kInt,
       .help = "Limit CPU CFS (Completely Fair Scheduler) quota"},
      {.long_name = "cpu-period",
       .type = Type::kInt,
       .help = "Limit CPU CFS (Completely Fair Scheduler) period"},
      {.long_name = "pids-limit",
       .type = Type::kInt,
       .help = "Tune container pids limit (set -1 for unlimited)"},
      {.long_name = "stop-signal", .type = Type::kString, .help = "Signal to stop the container"},
      {.long_name = "stop-timeout", .type = Type::kInt, .help = "Timeout (in seconds) to stop a container"},
  };
}

std::string expand_env_entry(std::string_view entry, const Env& env) {
  if (entry.find('=') != std::string_view::npos) return std::string(entry);
  if (auto v = env.get(std::string(entry))) return std::string(entry) + "=" + *v;
  return std::string(entry);
}

std::vector<std::string> read_env_file(const std::string& path, const Env& env) {
  std::ifstream in(path);
  if (!in) throw SystemError(errno, "open env file", path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line.erase(0, start);
    if (line.front() == '=') throw UsageError("invalid environment variable in " + path + ": " + line);
    out.push_back(expand_env_entry(line, env));
  }
  if (in.bad()) throw SystemError(errno, "read env file", path);
  return out;
}

std::vector<PortMapping> parse_publish(std::string_view spec) {
  std::string s(spec);
  std::string proto = "tcp";
  if (auto slash = s.rfind('/'); slash != std::string::npos) {
    proto = s.substr(slash + 1);
    s.resize(slash);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") {
      throw UsageError("invalid proto: " + proto + " in port spec \"" + std::string(spec) + "\"");
    }
  }
  std::string ip, host, ctr;
  if (auto last = s.rfind(':'); last == std::string::npos) {
    ctr = s;
  } else {
    ctr = s.substr(last + 1);
    std::string rest = s.substr(0, last);
    if (auto mid = rest.rfind(':'); mid == std::string::npos) {
      host = rest;
    } else {
      ip = rest.substr(0, mid);
      host = rest.substr(mid + 1);
      if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    }
  }
  long clo = 0, chi = 0, hlo = 0, hhi = 0;
  if (!parse_port_range(ctr, clo, chi) || clo == 0) {
    throw UsageError("invalid containerPort: " + ctr + " in port spec \"" + std::string(spec) + "\"");
  }
  bool has_host = !host.empty();
  if (has_host && !parse_port_range(host, hlo, hhi)) {
    throw UsageError("invalid hostPort: " + host + " in port spec \"" + std::string(spec) + "\"");
  }
  if (has_host && hhi - hlo != chi - clo && hlo != hhi) {
    throw UsageError("invalid ranges specified for container and host Ports: " + std::string(spec));
  }
  std::vector<PortMapping> out;
  for (long p = clo; p <= chi; ++p) {
    PortMapping m{std::to_string(p) + "/" + proto, ip, ""};
    if (has_host) {
      m.host_port = hlo == hhi ? std::to_string(hlo) : std::to_string(hlo + (p - clo));
    }
    out.push_back(std::move(m));
  }
  return out;
}

nlohmann::json parse_restart_policy(std::string_view spec) {
  std::string name(spec), count;
  if (auto colon = name.find(':'); colon != std::string::npos) {
    count = name.substr(colon + 1);
    name.resize(colon);
  }
  if (name.empty()) name = "no";
  if (name != "no" && name != "always" && name != "unless-stopped" && name != "on-failure") {
    throw UsageError("invalid restart policy: unknown policy '" + name +
                     "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  }
  long n = 0;
  if (!count.empty()) {
    if (name != "on-failure") {
      throw UsageError("invalid restart policy: maximum retry count can only be used with 'on-failure'");
    }
    auto [p, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
    if (ec != std::errc() || p != count.data() + count.size() || n < 0) {
      throw UsageError("invalid restart policy: invalid count: " + count);
    }
  }
  return {{"Name", name}, {"MaximumRetryCount", n}};
}

CreateRequest build_create_request(const ParsedFlags& f, const std::vector<std::string>& args, bool detach,
                                   const Env& env) {
  if (args.empty()) throw UsageError("requires at least 1 argument");
  CreateRequest req;
  req.image = args[0];
  req.name = f.get_string("name");
  bool interactive = f.get_bool("interactive");
  bool tty = f.get_bool("tty");
  nlohmann::json c = {{"Image", req.image},
                      {"Tty", tty},
                      {"OpenStdin", interactive},
                      {"StdinOnce", interactive && !detach},
                      {"AttachStdin", interactive && !detach},
                      {"AttachStdout", !detach},
                      {"AttachStderr", !detach}};
  if (args.size() > 1) c["Cmd"] = std::vector<std::string>(args.begin() + 1, args.end());
  if (f.has("entrypoint")) {
    c["Entrypoint"] = std::vector<std::string>{f.get_string("entrypoint")};
  }
  std::vector<std::string> envs;
  for (const auto& file : f.get_list("env-file")) {
    for (auto& e : read_env_file(file, env)) envs.push_back(std::move(e));
  }
  for (const auto& e : f.get_list("env")) {
    if (e.empty() || e.front() == '=') throw UsageError("invalid environment variable: " + e);
    envs.push_back(expand_env_entry(e, env));
  }
  if (!envs.empty()) c["Env"] = envs;
  if (f.has("workdir")) c["WorkingDir"] = f.get_string("workdir");
  if (f.has("user")) c["User"] = f.get_string("user");
  if (f.has("hostname")) c["Hostname"] = f.get_string("hostname");
  if (f.has("stop-signal")) c["StopSignal"] = f.get_string("stop-signal");
  if (f.has("stop-timeout")) c["StopTimeout"] = f.get_int("stop-timeout");
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& l : f.get_list("label")) {
    auto eq = l.find('=');
    labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  c["Labels"] = labels;

  nlohmann::json hc = nlohmann::json::object();
  nlohmann::json exposed = nlohmann::json::object();
  nlohmann::json bindings = nlohmann::json::object();
  for (const auto& e : f.get_list("expose")) {
    for (const auto& m : parse_publish(e)) exposed[m.container_port] = nlohmann::json::object();
  }
  for (const auto& p : f.get_list("publish")) {
    for (const auto& m : parse_publish(p)) {
      exposed[m.container_port] = nlohmann::json::object();
      bindings[m.container_port].push_back({{"HostIp", m.host_ip}, {"HostPort", m.host_port}});
    }
  }
  if (!exposed.empty()) c["ExposedPorts"] = exposed;
  if (!bindings.empty()) hc["PortBindings"] = bindings;
  if (f.get_bool("publish-all")) hc["PublishAllPorts"] = true;

  std::vector<std::string> binds;
  nlohmann::json volumes = nlohmann::json::object();
  for (const auto& v : f.get_list("volume")) {
    if (v.empty()) throw UsageError("invalid empty volume spec");
    if (v.find(':') == std::string::npos) {
      if (v.front() != '/') throw UsageError("invalid volume spec \"" + v + "\": the path must be absolute");
      volumes[v] = nlohmann::json::object();  // an anonymous volume
    } else {
      binds.push_back(v);
    }
  }
  if (!volumes.empty()) c["Volumes"] = volumes;
  if (!binds.empty()) hc["Binds"] = binds;
  if (auto vf = f.get_list("volumes-from"); !vf.empty()) hc["VolumesFrom"] = vf;

  bool rm = f.get_bool("rm");
  hc["AutoRemove"] = rm;
  std::string restart = f.get_string("restart");
  if (!restart.empty()) {
    nlohmann::json policy = parse_restart_policy(restart);
    if (rm && policy["Name"] != "no") throw UsageError("Conflicting options: --restart and --rm");
    hc["RestartPolicy"] = policy;
  }
  std::string network = f.get_string("network", f.get_string("net"));
  if (!network.empty()) hc["NetworkMode"] = network;

  // Limits: the flags, else bocker's environment defaults for memory and CPU shares.
  std::map<std::string, std::string> vars;
  for (const char* k : {"BOCKER_CPU_SHARE", "BOCKER_MEM_LIMIT"}) {
    if (auto v = env.get(k)) vars[k] = *v;
  }
  cgroup::Limits defaults;
  try {
    defaults = cgroup::bocker_env_defaults(vars);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  std::int64_t memory = f.has("memory") ? memory_flag(f, "memory") : defaults.memory_bytes;
  if (memory > 0) hc["Memory"] = memory;
  if (f.has("memory-swap")) hc["MemorySwap"] = memory_flag(f, "memory-swap");
  std::int64_t shares = f.has("cpu-shares") ? f.get_int("cpu-shares") : defaults.cpu_shares;
  if (shares != 0) hc["CpuShares"] = shares;
  if (f.has("cpus")) {
    std::string v = f.get_string("cpus");
    double cpus = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), cpus);
    if (ec != std::errc() || p != v.data() + v.size() || cpus < 0 || !std::isfinite(cpus)) {
      throw UsageError("invalid argument \"" + v + "\" for \"--cpus\" flag: not a number of CPUs");
    }
    if (f.has("cpu-quota") || f.has("cpu-period")) {
      throw UsageError("Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set");
    }
    hc["NanoCpus"] = static_cast<std::int64_t>(std::llround(cpus * 1e9));
  }
  if (f.has("cpu-quota")) hc["CpuQuota"] = f.get_int("cpu-quota");
  if (f.has("cpu-period")) hc["CpuPeriod"] = f.get_int("cpu-period");
  if (f.has("pids-limit")) hc["PidsLimit"] = f.get_int("pids-limit");
  c["HostConfig"] = hc;
  req.body = std::move(c);
  return req;
}

}  // namespace bocker::cli
