// Internal: RAII owners for libnl objects and the few rtnetlink operations the network needs.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/net/cidr.hpp"

namespace bocker::net::nl {

struct SockFree {
  void operator()(nl_sock* s) const noexcept { nl_socket_free(s); }  // closes the fd too
};
struct LinkPut {
  void operator()(rtnl_link* l) const noexcept { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const noexcept { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const noexcept { rtnl_route_put(r); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const noexcept { nl_addr_put(a); }
};
struct CacheFree {
  void operator()(nl_cache* c) const noexcept { nl_cache_free(c); }
};
struct NexthopFree {
  void operator()(rtnl_nexthop* n) const noexcept { rtnl_route_nh_free(n); }
};

using Sock = std::unique_ptr<nl_sock, SockFree>;
using Link = std::unique_ptr<rtnl_link, LinkPut>;
using Addr = std::unique_ptr<rtnl_addr, AddrPut>;
using Route = std::unique_ptr<rtnl_route, RoutePut>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrPut>;
using Cache = std::unique_ptr<nl_cache, CacheFree>;
using Nexthop = std::unique_ptr<rtnl_nexthop, NexthopFree>;

// Throws for libnl error code `err` (negative or positive): conflict() for "exists",
// not_found() for "no such device/object", Error otherwise; "<what>: <libnl text> (libnl error N)".
[[noreturn]] void fail(int err, const std::string& what);

// A NETLINK_ROUTE socket in the calling thread's network namespace.
Sock connect_route();
// A NETLINK_ROUTE socket in the network namespace `netns_fd`: a short-lived thread joins the
// namespace, connects, and switches back; the socket stays bound to that namespace.
Sock connect_route_in(int netns_fd, const std::string& netns_desc);

// The link named `name`, or null when there is none. `where` names the namespace in errors.
Link find_link(nl_sock* sock, const std::string& name, const std::string& where = "host");
// All links of the socket's namespace.
std::vector<Link> all_links(nl_sock* sock, const std::string& where = "host");
// Sets IFF_UP on `link` when it is not up already.
void set_up(nl_sock* sock, rtnl_link* link, const std::string& what);
// Deletes the link named `name`; false when it does not exist.
bool delete_link(nl_sock* sock, const std::string& name, const std::string& where = "host");

// True when interface `ifindex` has IPv4 address `ip`/`prefix`.
bool has_address(nl_sock* sock, int ifindex, Ipv4 ip, int prefix, const std::string& what);
// Adds `ip`/`prefix` (broadcast `brd`) to interface `ifindex`.
void add_address(nl_sock* sock, int ifindex, Ipv4 ip, int prefix, Ipv4 brd, const std::string& what);
// Adds the default IPv4 route via `gw` on interface `ifindex` (main table).
void add_default_route(nl_sock* sock, int ifindex, Ipv4 gw, const std::string& what);

NlAddr ipv4_addr(Ipv4 ip, int prefix);

}  // namespace bocker::net::nl
