#include "netlink.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <netlink/errno.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::net::nl {

void fail(int err, const std::string& what) {
  int code = err < 0 ? -err : err;
  std::string msg = what + ": " + nl_geterror(code) + " (libnl error " + std::to_string(code) + ")";
  switch (code) {
    case NLE_EXIST:
      throw conflict(msg);
    case NLE_NODEV:
    case NLE_OBJ_NOTFOUND:
      throw not_found(msg);
    default:
      throw Error(msg);
  }
}

namespace {
Sock alloc_sock() {
  Sock s(nl_socket_alloc());
  if (!s) throw Error("allocate netlink socket: out of memory");
  return s;
}
}  // namespace

Sock connect_route() {
  Sock s = alloc_sock();
  if (int err = nl_connect(s.get(), NETLINK_ROUTE); err < 0)
    fail(err, "connect rtnetlink socket in the host netns");
  return s;
}

Sock connect_route_in(int netns_fd, const std::string& netns_desc) {
  Sock s = alloc_sock();
  // A netlink socket stays bound to the netns it was created in: this thread steps in, connects
  // and steps back (setns of one thread; no thread is created per container start).
  Fd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!own) throw SystemError(errno, "open", "/proc/thread-self/ns/net");
  if (::setns(netns_fd, CLONE_NEWNET) != 0) throw SystemError(errno, "setns into netns", netns_desc);
  int err = nl_connect(s.get(), NETLINK_ROUTE);
  if (::setns(own.get(), CLONE_NEWNET) != 0) {
    // Going on would run the daemon's later work in a container's netns.
    std::fprintf(stderr, "bocker: setns back from netns %s: %s\n", netns_desc.c_str(), std::strerror(errno));
    std::abort();
  }
  if (err < 0) fail(err, "connect rtnetlink socket in netns " + netns_desc);
  return s;
}

Link find_link(nl_sock* sock, const std::string& name, const std::string& where) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
  Link link(raw);
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return nullptr;
  if (err < 0) fail(err, "look up link " + name + " in " + where + " netns");
  return link;
}

std::vector<Link> all_links(nl_sock* sock, const std::string& where) {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &raw);
  Cache cache(raw);
  if (err < 0) fail(err, "list links in " + where + " netns");
  std::vector<Link> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    nl_object_get(o);
    out.emplace_back(reinterpret_cast<rtnl_link*>(o));
  }
  return out;
}

void set_up(nl_sock* sock, rtnl_link* link, const std::string& what) {
  if ((rtnl_link_get_flags(link) & IFF_UP) != 0) return;
  Link change(rtnl_link_alloc());
  if (!change) throw Error("set " + what + " up: out of memory");
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock, link, change.get(), 0); err < 0) fail(err, "set " + what + " up");
}

bool delete_link(nl_sock* sock, const std::string& name, const std::string& where) {
  Link link(rtnl_link_alloc());
  if (!link) throw Error("delete link " + name + ": out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(sock, link.get());
  if (err == -NLE_NODEV || err == -NLE_OBJ_NOTFOUND) return false;
  if (err < 0) fail(err, "delete link " + name + " in " + where + " netns");
  return true;
}

NlAddr ipv4_addr(Ipv4 ip, int prefix) {
  std::uint32_t be = ip.to_be();
  NlAddr a(nl_addr_build(AF_INET, &be, sizeof be));
  if (!a) throw Error("build address " + ip.to_string() + ": out of memory");
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

bool has_address(nl_sock* sock, int ifindex, Ipv4 ip, int prefix, const std::string& what) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock, &raw);
  Cache cache(raw);
  if (err < 0) fail(err, "list addresses of " + what);
  std::uint32_t be = ip.to_be();
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) continue;
    nl_addr* local = rtnl_addr_get_local(a);
    if (local == nullptr || nl_addr_get_len(local) != sizeof be) continue;
    if (std::memcmp(nl_addr_get_binary_addr(local), &be, sizeof be) == 0 &&
        rtnl_addr_get_prefixlen(a) == prefix) {
      return true;
    }
  }
  return false;
}

void add_address(nl_sock* sock, int ifindex, Ipv4 ip, int prefix, Ipv4 brd, const std::string& what) {
  const std::string desc = "add address " + ip.to_string() + "/" + std::to_string(prefix) + " to " + what;
  Addr addr(rtnl_addr_alloc());
  if (!addr) throw Error(desc + ": out of memory");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  NlAddr local = ipv4_addr(ip, prefix);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) fail(err, desc);
  rtnl_addr_set_prefixlen(addr.get(), prefix);
  NlAddr b = ipv4_addr(brd, 32);
  if (int err = rtnl_addr_set_broadcast(addr.get(), b.get()); err < 0) fail(err, desc);
  if (int err = rtnl_addr_add(sock, addr.get(), 0); err < 0) fail(err, desc);
}

void add_default_route(nl_sock* sock, int ifindex, Ipv4 gw, const std::string& what) {
  const std::string desc = "add default route via " + gw.to_string() + " on " + what;
  Route route(rtnl_route_alloc());
  if (!route) throw Error(desc + ": out of memory");
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  NlAddr dst = ipv4_addr(Ipv4{0}, 0);
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) fail(err, desc);
  Nexthop nh(rtnl_route_nh_alloc());
  if (!nh) throw Error(desc + ": out of memory");
  rtnl_route_nh_set_ifindex(nh.get(), ifindex);
  NlAddr gwa = ipv4_addr(gw, 32);
  rtnl_route_nh_set_gateway(nh.get(), gwa.get());
  rtnl_route_add_nexthop(route.get(), nh.release());  // the route owns it now
  if (int err = rtnl_route_add(sock, route.get(), NLM_F_EXCL); err < 0) fail(err, desc);
}

}  // namespace bocker::net::nl
