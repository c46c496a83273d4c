// Per-container veth pairs and crash-recovery sweep.
#include <fcntl.h>
#include <linux/if.h>
#include <netlink/route/link/veth.h>

#include <cstdio>

#include "bocker/net/ipam.hpp"
#include "bocker/net/network.hpp"
#include "bocker/net/nft.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "netlink.hpp"

namespace bocker::net {

namespace {
constexpr std::string_view kHostPrefix = "bk";
constexpr std::size_t kIdChars = 11;  // "bk" + 11 = 13 < IFNAMSIZ
constexpr const char* kPeerName = "eth0";

void check_container_id(std::string_view id) {
  bool ok = !id.empty() && id.size() <= 128;
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '-' || c == '.');
  }
  if (!ok) throw invalid("invalid container id \"" + std::string(id) + "\" for a network endpoint");
}

// Deletes the host veth named `name` on scope exit unless dismissed.
class VethGuard {
 public:
  explicit VethGuard(std::string name) : name_(std::move(name)) {}
  VethGuard(const VethGuard&) = delete;
  VethGuard& operator=(const VethGuard&) = delete;
  ~VethGuard() {
    if (name_.empty()) return;
    try {
      nl::Sock sock = nl::connect_route();
      nl::delete_link(sock.get(), name_);
    } catch (...) {
      // best effort on an error path; the sweep at the next start catches leftovers
    }
  }
  void dismiss() noexcept { name_.clear(); }

 private:
  std::string name_;
};

void configure_inside(int netns_fd, const std::string& ns_desc, const NetworkConfig& cfg, Ipv4 address) {
  nl::Sock sock = nl::connect_route_in(netns_fd, ns_desc);
  const std::string where = "container netns " + ns_desc;
  nl::Link lo = nl::find_link(sock.get(), "lo", where);
  if (!lo) throw not_found("no lo interface in " + where);
  nl::set_up(sock.get(), lo.get(), "lo in " + where);
  nl::Link eth = nl::find_link(sock.get(), kPeerName, where);
  if (!eth) throw not_found("veth peer eth0 did not appear in " + where);
  const std::string what = std::string(kPeerName) + " in " + where;
  const int ifindex = rtnl_link_get_ifindex(eth.get());
  nl::add_address(sock.get(), ifindex, address, cfg.subnet.prefix, cfg.subnet.broadcast(), what);
  nl::set_up(sock.get(), eth.get(), what);
  nl::add_default_route(sock.get(), ifindex, cfg.subnet.gateway(), what);
}
}  // namespace

std::string host_ifname(std::string_view container_id) {
  return std::string(kHostPrefix) + std::string(container_id.substr(0, kIdChars));
}

std::string mac_for(Ipv4 address) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", address.value >> 24,
                (address.value >> 16) & 0xff, (address.value >> 8) & 0xff, address.value & 0xff);
  return buf;
}

Endpoint::Endpoint(Endpoint&& o) noexcept
    : host_ifname_(std::move(o.host_ifname_)),
      address_(o.address_),
      prefix_(o.prefix_),
      gateway_(o.gateway_),
      mac_(std::move(o.mac_)),
      owned_(std::exchange(o.owned_, false)) {
  o.host_ifname_.clear();
}

Endpoint& Endpoint::operator=(Endpoint&& o) noexcept {
  if (this != &o) {
    reset();
    host_ifname_ = std::move(o.host_ifname_);
    o.host_ifname_.clear();
    address_ = o.address_;
    prefix_ = o.prefix_;
    gateway_ = o.gateway_;
    mac_ = std::move(o.mac_);
    owned_ = std::exchange(o.owned_, false);
  }
  return *this;
}

Endpoint::~Endpoint() { reset(); }

void Endpoint::reset() noexcept {
  if (!owned_ || host_ifname_.empty()) return;
  owned_ = false;
  try {
    nl::Sock sock = nl::connect_route();
    nl::delete_link(sock.get(), host_ifname_);
  } catch (...) {
    // a destructor cannot report; the sweep at the next start removes what is left
  }
}

namespace {
Endpoint create_endpoint_in(const NetworkConfig& cfg, int netns_fd, const std::string& ns_desc,
                            const EndpointSpec& spec) {
  cfg.validate();
  check_container_id(spec.container_id);
  const Cidr& net = cfg.subnet;
  const Ipv4 addr = spec.address;
  if (!net.contains(addr) || addr == net.network || addr == net.gateway() || addr == net.broadcast()) {
    throw invalid("address " + addr.to_string() + " for container " + spec.container_id +
                  " is not a host address of subnet " + net.to_string());
  }
  const std::string host = host_ifname(spec.container_id);
  const std::string mac = mac_for(addr);

  nl::Sock sock = nl::connect_route();
  nl::Link bridge = nl::find_link(sock.get(), cfg.bridge);
  if (!bridge) throw not_found("bridge " + cfg.bridge + " does not exist (create veth " + host + ")");
  const int bridge_ifindex = rtnl_link_get_ifindex(bridge.get());

  nl::Link veth(rtnl_link_veth_alloc());
  if (!veth) throw Error("create veth " + host + ": out of memory");
  rtnl_link_set_name(veth.get(), host.c_str());
  rtnl_link_set_master(veth.get(), bridge_ifindex);
  rtnl_link_set_flags(veth.get(), IFF_UP);
  if (cfg.mtu != 0) rtnl_link_set_mtu(veth.get(), static_cast<unsigned>(cfg.mtu));
  {
    nl::Link peer(rtnl_link_veth_get_peer(veth.get()));
    if (!peer) throw Error("create veth " + host + ": no peer object");
    rtnl_link_set_name(peer.get(), kPeerName);
    rtnl_link_set_ns_fd(peer.get(), netns_fd);
    if (cfg.mtu != 0) rtnl_link_set_mtu(peer.get(), static_cast<unsigned>(cfg.mtu));
    unsigned char mac_bytes[6] = {0x02,
                                  0x42,
                                  static_cast<unsigned char>(addr.value >> 24),
                                  static_cast<unsigned char>(addr.value >> 16),
                                  static_cast<unsigned char>(addr.value >> 8),
                                  static_cast<unsigned char>(addr.value)};
    nl::NlAddr lladdr(nl_addr_build(AF_LLC, mac_bytes, sizeof mac_bytes));
    if (!lladdr) throw Error("create veth " + host + ": out of memory");
    rtnl_link_set_addr(peer.get(), lladdr.get());
  }
  if (int err = rtnl_link_add(sock.get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    nl::fail(err, "create veth " + host + " on bridge " + cfg.bridge + " with peer eth0 in netns " + ns_desc);
  }
  VethGuard guard(host);
  // The kernel applies IFF_UP at creation; make sure (older kernels ignore flags on newlink).
  nl::Link created = nl::find_link(sock.get(), host);
  if (!created) throw Error("create veth " + host + ": it is gone right after creation");
  if (rtnl_link_get_master(created.get()) != bridge_ifindex) {
    nl::Link change(rtnl_link_alloc());
    if (!change) throw Error("attach " + host + " to bridge " + cfg.bridge + ": out of memory");
    rtnl_link_set_master(change.get(), bridge_ifindex);
    if (int err = rtnl_link_change(sock.get(), created.get(), change.get(), 0); err < 0) {
      nl::fail(err, "attach " + host + " to bridge " + cfg.bridge);
    }
  }
  nl::set_up(sock.get(), created.get(), "veth " + host);
  configure_inside(netns_fd, ns_desc, cfg, addr);
  guard.dismiss();
  return Endpoint(host, addr, net.prefix, net.gateway(), mac);
}
}  // namespace

Endpoint create_endpoint(const NetworkConfig& cfg, int netns_fd, const EndpointSpec& spec) {
  return create_endpoint_in(cfg, netns_fd,
                            "fd " + std::to_string(netns_fd) + " of container " + spec.container_id, spec);
}

Endpoint create_endpoint_for_pid(const NetworkConfig& cfg, pid_t pid, const EndpointSpec& spec) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open network namespace", path);
  return create_endpoint_in(cfg, fd.get(), path + " of container " + spec.container_id, spec);
}

bool remove_endpoint(std::string_view container_id) {
  check_container_id(container_id);
  nl::Sock sock = nl::connect_route();
  return nl::delete_link(sock.get(), host_ifname(container_id));
}

SweepResult sweep(const NetworkConfig& cfg, Ipam& ipam, const std::set<std::string>& known_container_ids) {
  cfg.validate();
  SweepResult result;
  std::set<std::string> known_links;
  for (const auto& id : known_container_ids) known_links.insert(host_ifname(id));

  nl::Sock sock = nl::connect_route();
  if (nl::Link bridge = nl::find_link(sock.get(), cfg.bridge)) {
    const int bridge_ifindex = rtnl_link_get_ifindex(bridge.get());
    for (const auto& link : nl::all_links(sock.get())) {
      const char* name = rtnl_link_get_name(link.get());
      if (name == nullptr || std::string_view(name).rfind(kHostPrefix, 0) != 0) continue;
      if (rtnl_link_get_master(link.get()) != bridge_ifindex) continue;
      const char* type = rtnl_link_get_type(link.get());
      if (type == nullptr || std::string_view(type) != "veth") continue;
      if (known_links.contains(name)) continue;
      if (nl::delete_link(sock.get(), name)) result.removed_links.emplace_back(name);
    }
  }
  for (const auto& [owner, ip] : ipam.owners()) {
    if (known_container_ids.contains(owner)) continue;
    if (ipam.release(owner)) result.released_owners.push_back(owner);
  }
  for (const auto& [owner, count] : port_mapping_owners(cfg.nft_table)) {
    if (known_container_ids.contains(owner)) continue;
    result.removed_port_rules += remove_port_mappings(cfg.nft_table, owner);
  }
  return result;
}

}  // namespace bocker::net
