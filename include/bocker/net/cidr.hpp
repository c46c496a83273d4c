// IPv4 addresses and CIDR subnets: parsing, formatting and the few derived addresses the
// bridge network needs (gateway = first host, broadcast = last address).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bocker::net {

// An IPv4 address in host byte order.
struct Ipv4 {
  std::uint32_t value = 0;

  // Dotted quad "a.b.c.d" with each part 0..255 and no leading zeros; throws invalid() naming the text.
  static Ipv4 parse(std::string_view text);
  std::string to_string() const;
  // Network byte order, for sockaddr_in / netlink.
  std::uint32_t to_be() const noexcept;
  static Ipv4 from_be(std::uint32_t be) noexcept;

  friend bool operator==(Ipv4 a, Ipv4 b) noexcept { return a.value == b.value; }
  friend auto operator<=>(Ipv4 a, Ipv4 b) noexcept { return a.value <=> b.value; }
};

// An IPv4 subnet "a.b.c.d/N". The address must be the network address (host bits zero).
struct Cidr {
  Ipv4 network;
  int prefix = 32;

  // Throws invalid() naming the text for a malformed address, a prefix outside 0..32, or host
  // bits set ("10.0.0.1/24").
  static Cidr parse(std::string_view text);
  std::string to_string() const;

  std::uint32_t mask() const noexcept;
  bool contains(Ipv4 a) const noexcept;
  // Number of addresses in the subnet (2^(32-prefix)).
  std::uint64_t size() const noexcept;
  // Last address of the subnet.
  Ipv4 broadcast() const noexcept;
  // First host address (network + 1); what the bridge gets.
  Ipv4 gateway() const noexcept;
  // True when the subnet has room for a gateway and at least one more host (prefix <= 30).
  bool usable_for_bridge() const noexcept { return prefix <= 30; }

  friend bool operator==(const Cidr& a, const Cidr& b) noexcept = default;
};

inline constexpr std::string_view kDefaultSubnet = "10.201.0.0/16";

}  // namespace bocker::net
