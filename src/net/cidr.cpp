#include "bocker/net/cidr.hpp"

#include <arpa/inet.h>

#include "bocker/runtime/error.hpp"

namespace bocker::net {

namespace {
// Parses one dotted-quad part: 1-3 digits, no leading zero unless the part is "0", value <= 255.
bool parse_octet(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 3) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 255) return false;
  out = v;
  return true;
}

bool parse_quad(std::string_view text, std::uint32_t& out) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    std::size_t dot = text.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return false;
    std::string_view part = i < 3 ? text.substr(0, dot) : text;
    std::uint32_t octet = 0;
    if (!parse_octet(part, octet)) return false;
    v = (v << 8) | octet;
    if (i < 3) text.remove_prefix(dot + 1);
  }
  out = v;
  return true;
}
}  // namespace

Ipv4 Ipv4::parse(std::string_view text) {
  std::uint32_t v = 0;
  if (!parse_quad(text, v)) throw invalid("invalid IPv4 address \"" + std::string(text) + "\"");
  return Ipv4{v};
}

std::string Ipv4::to_string() const {
  return std::to_string(value >> 24) + '.' + std::to_string((value >> 16) & 0xff) + '.' +
         std::to_string((value >> 8) & 0xff) + '.' + std::to_string(value & 0xff);
}

std::uint32_t Ipv4::to_be() const noexcept { return htonl(value); }
Ipv4 Ipv4::from_be(std::uint32_t be) noexcept { return Ipv4{ntohl(be)}; }

Cidr Cidr::parse(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return invalid("invalid subnet \"" + std::string(text) + "\": " + why);
  };
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) throw bad("expected address/prefix, e.g. 10.201.0.0/16");
  std::uint32_t addr = 0;
  if (!parse_quad(text.substr(0, slash), addr)) throw bad("bad IPv4 address");
  std::string_view p = text.substr(slash + 1);
  if (p.empty() || p.size() > 2 || (p.size() == 2 && p[0] == '0')) throw bad("bad prefix length");
  int prefix = 0;
  for (char c : p) {
    if (c < '0' || c > '9') throw bad("bad prefix length");
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > 32) throw bad("prefix length over 32");
  Cidr c{Ipv4{addr}, prefix};
  if ((addr & ~c.mask()) != 0) {
    throw bad("host bits set (the network address is " + Ipv4{addr & c.mask()}.to_string() + "/" +
              std::to_string(prefix) + ")");
  }
  return c;
}

std::string Cidr::to_string() const { return network.to_string() + '/' + std::to_string(prefix); }

std::uint32_t Cidr::mask() const noexcept {
  return prefix == 0 ? 0U : static_cast<std::uint32_t>(0xffffffffULL << (32 - prefix));
}

bool Cidr::contains(Ipv4 a) const noexcept { return (a.value & mask()) == network.value; }

std::uint64_t Cidr::size() const noexcept { return 1ULL << (32 - prefix); }

Ipv4 Cidr::broadcast() const noexcept { return Ipv4{network.value | ~mask()}; }

Ipv4 Cidr::gateway() const noexcept { return Ipv4{network.value + 1}; }

}  // namespace bocker::net
