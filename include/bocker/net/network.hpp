// The bridge network: a Linux bridge with the subnet's gateway address, NAT through nftables,
// and one veth pair per container. Everything here blocks (netlink, nftables, files): call it
// from a worker thread (co_await rt::offload(...)) or at startup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bocker/net/cidr.hpp"

namespace bocker::net {

class Ipam;

struct NetworkConfig {
  std::string bridge = "bridge0";
  Cidr subnet{Ipv4{0x0AC90000U}, 16};  // 10.201.0.0/16 (kDefaultSubnet)
  // The nftables table (family ip) this network owns; nothing outside it is ever changed.
  std::string nft_table = "bocker";
  // MTU of both veth ends; 0 leaves the kernel default.
  int mtu = 0;

  // Throws invalid() for a bridge name that is not a valid interface name (1..15 chars, no '/',
  // whitespace or ':'), a table name outside [A-Za-z0-9_-]{1,64}, a subnet without room for
  // hosts (prefix > 30), or an MTU outside 0 or 68..65535.
  void validate() const;
};

// Creates the bridge when missing (an existing non-bridge link of that name is an error), adds
// the gateway address (subnet's first host) when missing, sets it up, enables IPv4 forwarding and
// (re)installs the nftables table `ip <nft_table>`: masquerade for the subnet leaving through any
// other interface, a forward chain accepting bridge traffic, and the nat prerouting/output chains
// that port mappings go into (existing port mappings are kept). Idempotent.
void ensure_bridge(const NetworkConfig& cfg);
// Deletes the bridge (its veths stay, detached) and the nftables table. Idempotent.
void delete_bridge(const NetworkConfig& cfg);
// The bridge's interface index, 0 when it does not exist.
int bridge_index(const std::string& bridge);

// The host end of a container's veth: "bk" + the first 11 characters of the id.
std::string host_ifname(std::string_view container_id);
// Docker's convention: 02:42 followed by the four address bytes.
std::string mac_for(Ipv4 address);

struct EndpointSpec {
  std::string container_id;  // [A-Za-z0-9_.-]+
  Ipv4 address;              // inside cfg.subnet, not the network, gateway or broadcast address
};

// A container's veth pair. Owns the host end: the destructor deletes it (which deletes the peer)
// unless commit() was called. Move-only.
class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(std::string host_ifname, Ipv4 address, int prefix, Ipv4 gateway, std::string mac)
      : host_ifname_(std::move(host_ifname)),
        address_(address),
        prefix_(prefix),
        gateway_(gateway),
        mac_(std::move(mac)) {}
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  Endpoint(Endpoint&& o) noexcept;
  Endpoint& operator=(Endpoint&& o) noexcept;
  ~Endpoint();

  const std::string& host_ifname() const noexcept { return host_ifname_; }
  Ipv4 address() const noexcept { return address_; }
  int prefix() const noexcept { return prefix_; }
  Ipv4 gateway() const noexcept { return gateway_; }
  const std::string& mac() const noexcept { return mac_; }
  bool owns() const noexcept { return owned_; }

  // Keeps the veth alive past this object (it goes with the netns or remove_endpoint()).
  void commit() noexcept { owned_ = false; }
  // Deletes the host veth now (when still owned); errors are swallowed, as in the destructor.
  void reset() noexcept;

 private:
  std::string host_ifname_;
  Ipv4 address_;
  int prefix_ = 0;
  Ipv4 gateway_;
  std::string mac_;
  bool owned_ = true;
};

// Creates the veth pair: host end host_ifname(id) attached to cfg.bridge and up; the peer is
// created inside the network namespace `netns_fd` as eth0 with spec.address/prefix and MAC
// mac_for(address), up, with a default route via the gateway; lo is set up too. The bridge must
// exist (ensure_bridge). Throws conflict() when the host veth name is taken, Error/SystemError
// naming the interface and netns otherwise; on error nothing is left behind.
Endpoint create_endpoint(const NetworkConfig& cfg, int netns_fd, const EndpointSpec& spec);
// The same for the network namespace of process `pid` (/proc/<pid>/ns/net).
Endpoint create_endpoint_for_pid(const NetworkConfig& cfg, pid_t pid, const EndpointSpec& spec);
// Deletes the container's host veth (and so its peer). False when there was none. Idempotent.
bool remove_endpoint(std::string_view container_id);

struct SweepResult {
  std::vector<std::string> removed_links;    // host veth names deleted
  std::vector<std::string> released_owners;  // IPAM owners released
  std::size_t removed_port_rules = 0;        // nftables DNAT rules deleted
};

// Crash recovery at daemon start: deletes the bk* veths attached to cfg.bridge whose container
// is not in `known_container_ids`, releases the IPAM entries of unknown owners and deletes the
// port-mapping rules of unknown containers from the nftables table (when it exists).
SweepResult sweep(const NetworkConfig& cfg, Ipam& ipam, const std::set<std::string>& known_container_ids);

}  // namespace bocker::net
