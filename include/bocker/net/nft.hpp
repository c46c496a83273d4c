// The network's nftables table (family ip) through libnftables: NAT for the bridge subnet and
// per-container port mappings (DNAT). Only the table named in the call is ever read or changed.
// Blocking: call from a worker thread or at startup. Thread-safe (calls are serialized).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "bocker/net/cidr.hpp"

namespace bocker::net {

struct NetworkConfig;

// Creates the table and its chains when missing and rewrites the postrouting and forward chains
// (masquerade for cfg.subnet leaving through any interface but cfg.bridge, hairpin masquerade,
// accept bridge traffic) in one atomic transaction. The prerouting and output chains, where
// port mappings live, are created but not flushed.
void ensure_nat_table(const NetworkConfig& cfg);
// Deletes the table when it exists.
void delete_nat_table(const std::string& table);
bool nat_table_exists(const std::string& table);

enum class Proto { kTcp, kUdp };
std::string to_string(Proto p);
// "tcp" / "udp" (case-insensitive); throws invalid() otherwise.
Proto parse_proto(std::string_view text);

struct PortMapping {
  std::string container_id;  // [A-Za-z0-9_.-]+, at most 100 characters
  Ipv4 host_ip;              // 0.0.0.0: every local address
  std::uint16_t host_port = 0;
  Proto proto = Proto::kTcp;
  Ipv4 container_ip;
  std::uint16_t container_port = 0;
};

// Adds DNAT rules for the mapping to the prerouting chain (traffic arriving from outside or from
// containers) and the output chain (traffic from the host itself to its non-loopback addresses),
// tagged with the comment "bocker:<container_id>". Both rules go in one transaction. Throws
// invalid() for a port 0 or a bad container id, Error with libnftables' text otherwise.
void add_port_mapping(const std::string& table, const PortMapping& m);
// Deletes every rule tagged for the container (by handle, one transaction); returns how many.
std::size_t remove_port_mappings(const std::string& table, const std::string& container_id);
// container id -> number of port-mapping rules tagged for it.
std::map<std::string, std::size_t> port_mapping_owners(const std::string& table);

}  // namespace bocker::net
