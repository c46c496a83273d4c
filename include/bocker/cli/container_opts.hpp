// `bocker run` / `bocker create` options: the flags docker takes and the POST /containers/create
// body they make (Config + HostConfig), with bocker's BOCKER_CPU_SHARE / BOCKER_MEM_LIMIT defaults.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/cli/env.hpp"
#include "bocker/cli/flags.hpp"

namespace bocker::cli {

// The flags shared by run and create (run adds -d, --sig-proxy).
std::vector<FlagSpec> container_create_flags();

struct CreateRequest {
  std::string name;   // ?name=
  std::string image;  // as typed
  nlohmann::json body;
};

// Builds the create request from the parsed flags and `args` = IMAGE [COMMAND [ARG...]].
// `detach`: run -d (no attached streams). `env` answers -e NAME lookups and the BOCKER_* defaults.
// Throws UsageError for a malformed value (memory size, port, restart policy, env file...).
CreateRequest build_create_request(const ParsedFlags& flags, const std::vector<std::string>& args,
                                   bool detach, const Env& env);

// -e / --env-file entry: "A=b" as is; "A" becomes "A=<value>" when `env` has A, else stays "A".
std::string expand_env_entry(std::string_view entry, const Env& env);
// The entries of an env file: one per line, blank lines and '#' comments skipped. Throws
// SystemError when it cannot be read.
std::vector<std::string> read_env_file(const std::string& path, const Env& env);

// -p [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO] into ExposedPorts / PortBindings entries.
struct PortMapping {
  std::string container_port;  // "80/tcp"
  std::string host_ip;
  std::string host_port;  // "" = any
};
std::vector<PortMapping> parse_publish(std::string_view spec);

// --restart no|always|unless-stopped|on-failure[:N] -> {"Name", "MaximumRetryCount"}.
nlohmann::json parse_restart_policy(std::string_view spec);

// The exit code docker's run gives a failed start, from the daemon's message: 127 (command not
// found), 126 (cannot invoke: permission denied, is a directory), else 125.
int start_error_code(const std::string& message);

}  // namespace bocker::cli
