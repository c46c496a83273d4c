// The bridge itself: link, gateway address, IPv4 forwarding and the nftables table.
#include <fcntl.h>
#include <linux/if.h>
#include <netlink/route/link/bridge.h>
#include <unistd.h>

#include "bocker/net/network.hpp"
#include "bocker/net/nft.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "netlink.hpp"

namespace bocker::net {

namespace {
constexpr const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() >= IFNAMSIZ || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void enable_ip_forward() {
  Fd fd(::open(kIpForward, O_RDWR | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open", kIpForward);
  char c = 0;
  if (::pread(fd.get(), &c, 1, 0) < 0) throw SystemError(errno, "read", kIpForward);
  if (c == '1') return;
  if (::pwrite(fd.get(), "1\n", 2, 0) != 2) throw SystemError(errno, "write 1 to", kIpForward);
}
}  // namespace

void NetworkConfig::validate() const {
  if (!valid_ifname(bridge)) {
    throw invalid("invalid bridge name \"" + bridge + "\" (1-15 characters of [A-Za-z0-9_.-])");
  }
  bool table_ok = !nft_table.empty() && nft_table.size() <= 64;
  for (char c : nft_table) {
    table_ok = table_ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '_' || c == '-');
  }
  if (!table_ok)
    throw invalid("invalid nftables table name \"" + nft_table + "\" (want [A-Za-z0-9_-]{1,64})");
  if (subnet.prefix < 0 || subnet.prefix > 32 || (subnet.network.value & ~subnet.mask()) != 0) {
    throw invalid("invalid subnet " + subnet.to_string());
  }
  if (!subnet.usable_for_bridge()) {
    throw invalid("subnet " + subnet.to_string() + " has no room for a gateway and containers (prefix > 30)");
  }
  if (mtu != 0 && (mtu < 68 || mtu > 65535)) throw invalid("invalid MTU " + std::to_string(mtu));
}

int bridge_index(const std::string& bridge) {
  nl::Sock sock = nl::connect_route();
  nl::Link link = nl::find_link(sock.get(), bridge);
  return link ? rtnl_link_get_ifindex(link.get()) : 0;
}

void ensure_bridge(const NetworkConfig& cfg) {
  cfg.validate();
  const std::string what = "bridge " + cfg.bridge;
  nl::Sock sock = nl::connect_route();
  nl::Link link = nl::find_link(sock.get(), cfg.bridge);
  if (!link) {
    nl::Link br(rtnl_link_bridge_alloc());
    if (!br) throw Error("create " + what + ": out of memory");
    rtnl_link_set_name(br.get(), cfg.bridge.c_str());
    if (cfg.mtu != 0) rtnl_link_set_mtu(br.get(), static_cast<unsigned>(cfg.mtu));
    int err = rtnl_link_add(sock.get(), br.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0 && err != -NLE_EXIST) nl::fail(err, "create " + what);
    link = nl::find_link(sock.get(), cfg.bridge);
    if (!link) throw Error("create " + what + ": it is gone right after creation");
  }
  const char* type = rtnl_link_get_type(link.get());
  if (type == nullptr || std::string_view(type) != "bridge") {
    throw conflict("interface " + cfg.bridge + " exists and is not a bridge (type " +
                   (type ? std::string(type) : std::string("unknown")) + ")");
  }
  const int ifindex = rtnl_link_get_ifindex(link.get());
  const Ipv4 gw = cfg.subnet.gateway();
  if (!nl::has_address(sock.get(), ifindex, gw, cfg.subnet.prefix, what)) {
    try {
      nl::add_address(sock.get(), ifindex, gw, cfg.subnet.prefix, cfg.subnet.broadcast(),
                      what + " (subnet " + cfg.subnet.to_string() + ")");
    } catch (const Error& e) {
      if (e.kind() != Error::Kind::kConflict) throw;  // added concurrently: fine
    }
  }
  nl::set_up(sock.get(), link.get(), what);
  enable_ip_forward();
  ensure_nat_table(cfg);
}

void delete_bridge(const NetworkConfig& cfg) {
  cfg.validate();
  nl::Sock sock = nl::connect_route();
  if (nl::Link link = nl::find_link(sock.get(), cfg.bridge)) {
    const char* type = rtnl_link_get_type(link.get());
    if (type == nullptr || std::string_view(type) != "bridge") {
      throw conflict("interface " + cfg.bridge + " is not a bridge; not deleting it");
    }
    nl::delete_link(sock.get(), cfg.bridge);
  }
  delete_nat_table(cfg.nft_table);
}

}  // namespace bocker::net
