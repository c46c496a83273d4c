// Internal to the daemon: containers' networking. The bridge (net::ensure_bridge), one address
// per running container from a persistent allocator (<root>/network/<bridge>/ipam.json), the veth
// endpoint made while the child waits at its start gate, port mappings as nftables DNAT rules
// plus a userland TCP proxy and UDP relay on the loop (for traffic to 127.0.0.1, which DNAT does
// not see; port_proxy.hpp), and the NetworkSettings / Ports that inspect and ps show.
//
// Lifecycle, as ContainerService calls it:
//   create   -> validate_ports(body, host_config)         (400 for bad bindings, nothing changes)
//   start    -> prepare(c)  on the loop: address, host ports bound (the "port is already
//                           allocated" check), /etc/hosts line
//               gate(state, pid)  on the spawn worker while the child waits: veth or lo, DNAT rules
//               activate(c) after the exec: proxies start accepting, network.json written
//               teardown(c) when the start fails after prepare
//   exit     -> teardown(c): proxies closed, DNAT rules and the veth deleted, the address released
//   rm       -> forget(c):   teardown plus anything the allocator still holds for the id
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "bocker/container/spawn.hpp"
#include "bocker/net/cidr.hpp"
#include "bocker/net/network.hpp"
#include "bocker/net/nft.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/scope.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::net {
class Ipam;
}

namespace bocker::daemon {

struct Container;

// One published port: "-p [ip:]host:container[/proto]" after the host port is chosen.
struct PublishedPort {
  net::Proto proto = net::Proto::kTcp;
  std::uint16_t container_port = 0;
  std::string host_ip;  // as docker shows it: "0.0.0.0" for every address
  std::uint16_t host_port = 0;
};

// A running container's network state (runtime only; network.json in its directory mirrors it).
struct ContainerNet {
  std::string mode;  // "bridge", "none" or "host"
  std::string id;
  bool has_address = false;
  net::Ipv4 address, gateway;
  int prefix = 0;
  std::string mac;
  std::vector<PublishedPort> ports;
  std::vector<Fd> listeners;  // one per port: TCP listeners, UDP sockets; both proxied
  bool endpoint_made = false;
  bool dnat_added = false;
  bool closing = false;
  rt::TaskScope proxies;  // TCP accept loops and connections, UDP relays and flows
};

struct NetworkOptions {
  std::string bridge = "bridge0";  // "none": no bridge network
  std::string subnet = "10.201.0.0/16";
  std::string nft_table;  // "" = derived from the bridge name
};

// The nftables table for a bridge when none is given: "bocker" for bridge0, else "bocker_<bridge>".
std::string default_nft_table(const std::string& bridge);

class NetworkManager {
 public:
  NetworkManager();
  ~NetworkManager();
  NetworkManager(const NetworkManager&) = delete;
  NetworkManager& operator=(const NetworkManager&) = delete;

  // Blocking, at daemon start after the records are loaded: locks the bridge for this daemon,
  // creates it (and its NAT table), opens the allocator and sweeps veths, addresses and DNAT
  // rules of containers not in `running_ids`. Never throws: a failure is logged and kept, and
  // bridge-mode starts then fail with it (none and host keep working).
  void configure(const std::string& daemon_root, const NetworkOptions& opts,
                 const std::set<std::string>& running_ids);
  bool bridge_available() const noexcept { return ipam_ != nullptr; }
  const std::string& bridge_error() const noexcept { return error_; }
  const net::NetworkConfig& config() const noexcept { return cfg_; }

  // Checks NetworkMode, HostConfig.PortBindings and Config.ExposedPorts; throws invalid().
  static void validate(const nlohmann::json& config, const nlohmann::json& host_config);

  // Before the spawn: sets c.net, adds the container's address to spec.hosts. Errors are thrown
  // as container::SpawnError (exit code 125), so start's failure path records them.
  rt::Task<void> prepare(Container& c, container::SpawnSpec& spec);
  // Runs on the spawn worker while the child waits at its start gate.
  void gate(ContainerNet& st, pid_t pid);
  // `prev` (may be empty) then gate(*st, pid), errors as container::SpawnError.
  std::function<void(pid_t)> chain_gate(std::function<void(pid_t)> prev, ContainerNet* st);
  // Live restore: rebuilds c.net for a running container from <dir>/network.json (or the
  // allocator), rebinds its host ports and restarts the proxies.
  rt::Task<void> adopt(Container& c);
  rt::Task<void> activate(Container& c);
  rt::Task<void> teardown(Container& c);
  rt::Task<void> forget(Container& c);
  // Closes every container's proxies (daemon shutdown; rules and veths stay for the containers).
  rt::Task<void> shutdown();

  // The hosts-file line for the container ("" when it has no address).
  static std::string hosts_line(const Container& c);
  static nlohmann::json settings(const Container& c);       // inspect's NetworkSettings
  static nlohmann::json ports(const Container& c);          // ps's Ports
  static nlohmann::json list_networks(const Container& c);  // ps's NetworkSettings.Networks

 private:
  void bind_ports(ContainerNet& st, const Container& c);

  net::NetworkConfig cfg_;
  std::string state_dir_;
  std::string error_ = "bridge networking is not configured";
  bool disabled_ = false;  // --bridge none: "default" containers get an empty netns
  Fd lock_;
  std::string lock_path_;  // the lock file we own (unlinked at shutdown)
  std::unique_ptr<net::Ipam> ipam_;
  std::set<ContainerNet*> active_;
};

}  // namespace bocker::daemon
