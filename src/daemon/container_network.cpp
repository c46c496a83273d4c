// Containers' networking: bridge endpoints, addresses, port mappings (DNAT + the userland TCP
// proxy and UDP relay of port_proxy.cpp), and the NetworkSettings inspect and ps show. See container_network.hpp.
#include "container_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <cstdio>

#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/net/ipam.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "container_record.hpp"
#include "port_proxy.hpp"

namespace bocker::daemon {

using nlohmann::json;

namespace {

constexpr std::uint16_t kEphemeralLow = 32768;
constexpr std::uint16_t kEphemeralHigh = 60999;

// "default" is the bridge, or no network when the daemon runs without one (bockerd --bridge none,
// like dockerd --bridge=none).
std::string mode_of(bool bridge_disabled, const json& host_config) {
  std::string m = host_config.value("NetworkMode", "default");
  if (m == "default") return bridge_disabled ? "none" : "bridge";
  return m;
}

// "80/tcp" (or "80", tcp) -> port and protocol; throws invalid() naming the text.
std::pair<std::uint16_t, net::Proto> parse_port_key(const std::string& key) {
  std::string port = key, proto = "tcp";
  if (auto slash = key.find('/'); slash != std::string::npos) {
    port = key.substr(0, slash);
    proto = key.substr(slash + 1);
  }
  net::Proto p;
  try {
    p = net::parse_proto(proto);
  } catch (const Error&) {
    throw invalid("invalid port \"" + key + "\": protocol must be tcp or udp");
  }
  unsigned long n = 0;
  bool ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  if (ok) n = std::stoul(port);
  if (!ok || n < 1 || n > 65535) throw invalid("invalid port \"" + key + "\": want 1-65535[/tcp|/udp]");
  return {static_cast<std::uint16_t>(n), p};
}

// HostPort: "" or "0" (any free port), "N", or "N-M". Returns the range; {0,0} for any.
std::pair<std::uint16_t, std::uint16_t> parse_host_port(const std::string& text) {
  if (text.empty() || text == "0") return {0, 0};
  auto num = [&text](const std::string& s) -> std::uint16_t {
    bool ok = !s.empty() && s.size() <= 5 && s.find_first_not_of("0123456789") == std::string::npos;
    unsigned long n = ok ? std::stoul(s) : 0;
    if (!ok || n < 1 || n > 65535)
      throw invalid("invalid host port \"" + text + "\": want 1-65535 or a range N-M");
    return static_cast<std::uint16_t>(n);
  };
  auto dash = text.find('-');
  if (dash == std::string::npos) {
    std::uint16_t n = num(text);
    return {n, n};
  }
  std::uint16_t lo = num(text.substr(0, dash)), hi = num(text.substr(dash + 1));
  if (lo > hi) throw invalid("invalid host port range \"" + text + "\"");
  return {lo, hi};
}

std::string parse_host_ip(const std::string& text) {
  if (text.empty()) return "0.0.0.0";
  try {
    return net::Ipv4::parse(text).to_string();
  } catch (const Error&) {
    throw invalid("invalid host IP \"" + text + "\" in a port binding (IPv4 only)");
  }
}

// One binding as asked: host ip, host port range, container port.
struct Wanted {
  net::Proto proto;
  std::uint16_t container_port;
  std::string host_ip;
  std::pair<std::uint16_t, std::uint16_t> host_ports;
};

std::vector<Wanted> wanted_ports(const json& config, const json& hc) {
  std::vector<Wanted> out;
  std::set<std::pair<std::uint16_t, net::Proto>> bound;
  json pb = hc.value("PortBindings", json::object());
  if (pb.is_null()) pb = json::object();
  if (!pb.is_object()) throw invalid("HostConfig.PortBindings must be an object");
  for (const auto& [key, list] : pb.items()) {
    auto [port, proto] = parse_port_key(key);
    bound.insert({port, proto});
    if (list.is_null()) continue;
    if (!list.is_array()) throw invalid("HostConfig.PortBindings[\"" + key + "\"] must be a list");
    for (const auto& b : list) {
      if (!b.is_object()) throw invalid("HostConfig.PortBindings[\"" + key + "\"] entries must be objects");
      std::string ip = b.contains("HostIp") && b["HostIp"].is_string() ? b["HostIp"].get<std::string>() : "";
      std::string hp =
          b.contains("HostPort") && b["HostPort"].is_string() ? b["HostPort"].get<std::string>() : "";
      out.push_back({proto, port, parse_host_ip(ip), parse_host_port(hp)});
    }
  }
  json exposed = config.value("ExposedPorts", json::object());
  if (exposed.is_null()) exposed = json::object();
  if (!exposed.is_object()) throw invalid("Config.ExposedPorts must be an object");
  bool publish_all = hc.value("PublishAllPorts", false);
  for (const auto& [key, v] : exposed.items()) {
    auto [port, proto] = parse_port_key(key);
    if (publish_all && bound.count({port, proto}) == 0) out.push_back({proto, port, "0.0.0.0", {0, 0}});
  }
  return out;
}

// A socket bound to ip:port (TCP listening), or an invalid Fd when the port is taken.
Fd try_bind(net::Proto proto, const std::string& ip, std::uint16_t port, int* err) {
  bool tcp = proto == net::Proto::kTcp;
  Fd s(::socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!s) throw SystemError(errno, "socket", "for port " + ip + ":" + std::to_string(port));
  int one = 1;
  if (tcp) ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = net::Ipv4::parse(ip).to_be();
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      (tcp && ::listen(s.get(), 128) != 0)) {
    *err = errno;
    return Fd();
  }
  return s;
}

std::uint16_t bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

// Brings lo up in the network namespace of `pid` (a "none" container): a socket made inside it
// (this thread steps in and back; a socket keeps the netns it was made in) takes the ioctls.
void lo_up(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) throw SystemError(errno, "open", path);
  Fd own(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!own) throw SystemError(errno, "open", "/proc/thread-self/ns/net");
  if (::setns(ns.get(), CLONE_NEWNET) != 0) throw SystemError(errno, "setns", path);
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int socket_errno = errno;
  if (::setns(own.get(), CLONE_NEWNET) != 0) {
    // Going on would run the daemon's later work in a container's netns.
    std::fprintf(stderr, "bockerd: setns back from %s: %s\n", path.c_str(), std::strerror(errno));
    std::abort();
  }
  if (!s) throw SystemError(socket_errno, "socket in", path);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw SystemError(errno, "get flags of lo in", path);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) throw SystemError(errno, "set lo up in", path);
}

container::SpawnError spawn_error(const std::string& msg) {
  return container::SpawnError(Error::Kind::kInternal, msg, 125, 0);
}

// A stable 64-hex-digit id for a network name (docker's NetworkID).
std::string network_id(const std::string& name) {
  std::string out;
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 64; ++i) {
    if (i % 16 == 0) h = (h ^ static_cast<std::uint64_t>(i)) * 1099511628211ULL + 0x9e3779b97f4a7c15ULL;
    out += hex[(h >> ((i % 16) * 4)) & 15];
  }
  return out;
}

}  // namespace

std::string default_nft_table(const std::string& bridge) {
  if (bridge == "bridge0") return "bocker";
  std::string t = "bocker_";
  for (char c : bridge) t += (c == '.' ? '_' : c);
  return t;
}

NetworkManager::NetworkManager() = default;
NetworkManager::~NetworkManager() = default;

void NetworkManager::configure(const std::string& daemon_root, const NetworkOptions& opts,
                               const std::set<std::string>& running_ids) {
  if (opts.bridge == "none") {
    error_ = "the bridge network is disabled (bockerd --bridge none)";
    disabled_ = true;
    log_line("network: no bridge (--bridge none); default-mode containers get an empty network namespace");
    return;
  }
  try {
    cfg_.bridge = opts.bridge;
    cfg_.subnet = net::Cidr::parse(opts.subnet);
    cfg_.nft_table = opts.nft_table.empty() ? default_nft_table(opts.bridge) : opts.nft_table;
    cfg_.validate();
    // One daemon per bridge: the sweep below would delete another daemon's endpoints.
    make_dirs("/run/bocker", 0755);
    std::string lock_path = "/run/bocker/network-" + cfg_.bridge + ".lock";
    lock_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!lock_) throw SystemError(errno, "open", lock_path);
    bool shared = false;
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) throw SystemError(errno, "flock", lock_path);
      shared = true;
    }
    net::ensure_bridge(cfg_);
    state_dir_ = daemon_root + "/network/" + cfg_.bridge;
    ipam_ = std::make_unique<net::Ipam>(state_dir_, cfg_.subnet);
    if (!shared) lock_path_ = lock_path;  // removed at shutdown
    if (shared) {
      log_line("network: WARNING bridge " + cfg_.bridge + " is also used by another bockerd (" + lock_path +
               "); not sweeping it, and addresses may collide: give each daemon its own --bridge");
    } else {
      net::SweepResult r = net::sweep(cfg_, *ipam_, running_ids);
      if (!r.removed_links.empty() || !r.released_owners.empty() || r.removed_port_rules != 0) {
        log_line("network: swept " + std::to_string(r.removed_links.size()) + " veth(s), " +
                 std::to_string(r.released_owners.size()) + " address(es), " +
                 std::to_string(r.removed_port_rules) + " port rule(s) of containers no longer running");
      }
    }
    log_line("network: bridge " + cfg_.bridge + " " + cfg_.subnet.to_string() + ", gateway " +
             cfg_.subnet.gateway().to_string() + ", nftables table ip " + cfg_.nft_table);
  } catch (const std::exception& e) {
    ipam_.reset();
    error_ = "bridge network " + opts.bridge + " is unavailable: " + e.what();
    log_line("network: " + error_ + " (containers can still use --network none or host)");
  }
}

void NetworkManager::validate(const json& config, const json& host_config) {
  std::string mode = mode_of(false, host_config);
  if (mode != "bridge" && mode != "none" && mode != "host") throw invalid("network " + mode + " not found");
  (void)wanted_ports(config, host_config);
}

void NetworkManager::bind_ports(ContainerNet& st, const Container& c) {
  std::vector<Wanted> wanted = wanted_ports(c.config, c.host_config);
  static thread_local std::mt19937 rng{std::random_device{}()};
  for (const Wanted& w : wanted) {
    Fd s;
    std::uint16_t port = 0;
    int err = 0;
    if (w.host_ports.first == 0) {
      // Ephemeral: docker's range, from a random start, each candidate checked by binding it.
      const unsigned span = kEphemeralHigh - kEphemeralLow + 1;
      unsigned start = std::uniform_int_distribution<unsigned>(0, span - 1)(rng);
      for (unsigned i = 0; i < span && !s; ++i) {
        port = static_cast<std::uint16_t>(kEphemeralLow + (start + i) % span);
        s = try_bind(w.proto, w.host_ip, port, &err);
        if (!s && err != EADDRINUSE) break;
      }
    } else {
      for (unsigned p = w.host_ports.first; p <= w.host_ports.second && !s; ++p) {
        port = static_cast<std::uint16_t>(p);
        s = try_bind(w.proto, w.host_ip, port, &err);
        if (!s && err != EADDRINUSE) break;
      }
    }
    if (!s) {
      std::string where =
          w.host_ip + ":" + (w.host_ports.first == 0 ? std::string("0") : std::to_string(w.host_ports.first));
      if (err == EADDRINUSE) {
        throw Error("driver failed programming external connectivity on endpoint " + c.name + " (" + c.id +
                    "): Bind for " + where + " failed: port is already allocated");
      }
      throw Error("driver failed programming external connectivity on endpoint " + c.name + " (" + c.id +
                  "): listen " + net::to_string(w.proto) + "4 " + where + ": bind: " + errno_text(err));
    }
    port = bound_port(s.get());
    st.ports.push_back({w.proto, w.container_port, w.host_ip, port});
    st.listeners.push_back(std::move(s));
  }
}

rt::Task<void> NetworkManager::prepare(Container& c, container::SpawnSpec& spec) {
  auto st = std::make_shared<ContainerNet>();
  st->mode = mode_of(disabled_, c.host_config);
  st->id = c.id;
  if (st->mode == "bridge") {
    if (!ipam_)
      throw spawn_error("cannot start container " + c.id.substr(0, 12) + " on the bridge network: " + error_);
    net::Ipam* ipam = ipam_.get();
    const std::string* id = &c.id;
    net::Ipv4 ip;
    std::string alloc_error;
    co_await rt::offload([ipam, id, &ip, &alloc_error] {
      try {
        ip = ipam->allocate(*id);
      } catch (const std::exception& e) {
        alloc_error = e.what();
      }
    });
    if (!alloc_error.empty())
      throw spawn_error("allocate an address for container " + c.id.substr(0, 12) + ": " + alloc_error);
    st->has_address = true;
    st->address = ip;
    st->prefix = cfg_.subnet.prefix;
    st->gateway = cfg_.subnet.gateway();
    st->mac = net::mac_for(ip);
    std::exception_ptr failed;
    try {
      bind_ports(*st, c);
    } catch (...) {
      failed = std::current_exception();
    }
    if (failed) {
      st->listeners.clear();
      co_await rt::offload([ipam, id] {
        try {
          ipam->release(*id);
        } catch (const std::exception& e) {
          log_line("container " + id->substr(0, 12) + ": release address: " + e.what());
        }
      });
      try {
        std::rethrow_exception(failed);
      } catch (const std::exception& e) {
        throw spawn_error(e.what());
      }
    }
  }
  c.net = st;
  active_.insert(st.get());
  spec.hosts += hosts_line(c);
}

std::function<void(pid_t)> NetworkManager::chain_gate(std::function<void(pid_t)> prev, ContainerNet* st) {
  return [this, prev = std::move(prev), st](pid_t pid) {
    if (prev) prev(pid);
    try {
      gate(*st, pid);
    } catch (const container::SpawnError&) {
      throw;
    } catch (const std::exception& e) {
      throw spawn_error(std::string("network setup: ") + e.what());
    }
  };
}

rt::Task<void> NetworkManager::adopt(Container& c) {
  auto st = std::make_shared<ContainerNet>();
  st->mode = mode_of(disabled_, c.host_config);
  st->id = c.id;
  std::string path = c.dir + "/network.json";
  std::string text;
  net::Ipam* ipam = ipam_.get();
  std::optional<net::Ipv4> looked_up;
  co_await rt::offload([&path, &text, ipam, &c, &looked_up] {
    try {
      text = read_file(path);
    } catch (const std::exception&) {
    }
    if (ipam != nullptr) looked_up = ipam->lookup(c.id);
  });
  if (st->mode == "bridge" && looked_up) {
    st->has_address = true;
    st->address = *looked_up;
    st->prefix = cfg_.subnet.prefix;
    st->gateway = cfg_.subnet.gateway();
    st->mac = net::mac_for(*looked_up);
    st->endpoint_made = true;
    try {
      json saved = text.empty() ? json::object() : json::parse(text);
      json ports = saved.value("Ports", json::object());
      if (!ports.is_object()) ports = json::object();
      for (const auto& [key, list] : ports.items()) {
        if (!list.is_array()) continue;
        auto [port, proto] = parse_port_key(key);
        for (const auto& b : list) {
          PublishedPort p{proto, port, b.value("HostIp", "0.0.0.0"),
                          static_cast<std::uint16_t>(std::stoul(b.value("HostPort", "0")))};
          int err = 0;
          Fd s = try_bind(p.proto, p.host_ip, p.host_port, &err);
          if (!s) {
            log_line("container " + c.id.substr(0, 12) + ": cannot rebind " + p.host_ip + ":" +
                     std::to_string(p.host_port) + ": " + errno_text(err) + " (DNAT still forwards it)");
            continue;
          }
          st->ports.push_back(p);
          st->listeners.push_back(std::move(s));
        }
      }
    } catch (const std::exception& e) {
      log_line("container " + c.id.substr(0, 12) + ": " + path + ": " + e.what());
    }
  }
  c.net = st;
  active_.insert(st.get());
  co_await activate(c);
}

rt::Task<void> ContainerService::configure_network(std::string bridge, std::string subnet,
                                                   std::string nft_table) {
  std::set<std::string> running;
  for (const auto& [id, c] : by_id_) {
    if (c->running()) running.insert(id);
  }
  NetworkManager* nm = network_.get();
  NetworkOptions opts{std::move(bridge), std::move(subnet), std::move(nft_table)};
  std::string daemon_root = root_.substr(0, root_.rfind('/'));  // root_ is <root>/containers
  co_await rt::offload([nm, &daemon_root, &opts, &running] { nm->configure(daemon_root, opts, running); });
  for (const std::string& id : running) {
    auto it = by_id_.find(id);
    if (it == by_id_.end() || !it->second->running() || it->second->net) continue;
    try {
      co_await nm->adopt(*it->second);
    } catch (const std::exception& e) {
      log_line("container " + id.substr(0, 12) + ": re-adopt network: " + e.what());
    }
  }
}

void NetworkManager::gate(ContainerNet& st, pid_t pid) {
  if (st.mode == "none") {
    lo_up(pid);
    return;
  }
  if (st.mode != "bridge") return;
  net::EndpointSpec spec;
  spec.container_id = st.id;
  spec.address = st.address;
  net::Endpoint ep = net::create_endpoint_for_pid(cfg_, pid, spec);
  try {
    for (const PublishedPort& p : st.ports) {
      net::PortMapping m;
      m.container_id = st.id;
      m.host_ip = net::Ipv4::parse(p.host_ip);
      m.host_port = p.host_port;
      m.proto = p.proto;
      m.container_ip = st.address;
      m.container_port = p.container_port;
      net::add_port_mapping(cfg_.nft_table, m);
      st.dnat_added = true;
    }
  } catch (...) {
    if (st.dnat_added) {
      try {
        net::remove_port_mappings(cfg_.nft_table, st.id);
      } catch (const std::exception&) {
      }
      st.dnat_added = false;
    }
    throw;  // `ep` deletes the veth
  }
  ep.commit();
  st.endpoint_made = true;
}

rt::Task<void> NetworkManager::activate(Container& c) {
  std::shared_ptr<ContainerNet> st = c.net;
  if (!st) co_return;
  for (std::size_t i = 0; i < st->ports.size(); ++i) {
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(st->ports[i].container_port);
    target.sin_addr.s_addr = st->address.to_be();
    int fd = st->listeners[i].get();
    st->proxies.spawn(st->ports[i].proto == net::Proto::kTcp ? tcp_proxy(fd, target, st->proxies)
                                                             : udp_proxy(fd, target, st->proxies));
  }
  // network.json: what a re-adopting daemon needs (the chosen host ports are not in the config).
  std::string path = c.dir + "/network.json";
  std::string data = settings(c).dump();
  bool durable = !c.host_config.value("AutoRemove", false);  // as ContainerService::save()
  co_await rt::offload([&path, &data, durable] { write_file_atomic(path, data, 0600, durable); });
}

rt::Task<void> NetworkManager::teardown(Container& c) {
  std::shared_ptr<ContainerNet> st = c.net;
  if (!st || st->closing) co_return;
  st->closing = true;
  st->proxies.cancel();
  co_await st->proxies.join();
  st->listeners.clear();
  ContainerNet* raw = st.get();
  net::Ipam* ipam = ipam_.get();
  const net::NetworkConfig* cfg = &cfg_;
  std::string path = c.dir + "/network.json";
  co_await rt::offload([raw, ipam, cfg, &path] {
    const std::string short_id = raw->id.substr(0, 12);
    if (raw->mode == "bridge") {
      try {
        if (!raw->ports.empty()) net::remove_port_mappings(cfg->nft_table, raw->id);
      } catch (const std::exception& e) {
        log_line("container " + short_id + ": remove port mappings: " + e.what());
      }
      try {
        net::remove_endpoint(raw->id);
      } catch (const std::exception& e) {
        log_line("container " + short_id + ": remove veth: " + e.what());
      }
      try {
        if (ipam != nullptr && raw->has_address) ipam->release(raw->id);
      } catch (const std::exception& e) {
        log_line("container " + short_id + ": release address: " + e.what());
      }
    }
    ::unlink(path.c_str());
  });
  active_.erase(raw);
  if (c.net == st) c.net.reset();
}

rt::Task<void> NetworkManager::forget(Container& c) {
  co_await teardown(c);
  if (!ipam_) co_return;
  net::Ipam* ipam = ipam_.get();
  const std::string* id = &c.id;
  co_await rt::offload([ipam, id] {
    try {
      ipam->release(*id);
    } catch (const std::exception& e) {
      log_line("container " + id->substr(0, 12) + ": release address: " + e.what());
    }
  });
}

rt::Task<void> NetworkManager::shutdown() {
  std::vector<ContainerNet*> all(active_.begin(), active_.end());
  for (ContainerNet* st : all) st->proxies.cancel();
  for (ContainerNet* st : all) {
    co_await st->proxies.join();
    st->listeners.clear();
  }
  if (!lock_path_.empty()) {
    ::unlink(lock_path_.c_str());  // still locked by us until lock_ closes: no other daemon is between
    lock_path_.clear();
  }
}

std::string NetworkManager::hosts_line(const Container& c) {
  if (!c.net || !c.net->has_address) return "";
  return c.net->address.to_string() + "\t" + c.config.value("Hostname", c.id.substr(0, 12)) + "\n";
}

json NetworkManager::settings(const Container& c) {
  const ContainerNet* st = c.running() ? c.net.get() : nullptr;
  std::string mode = st != nullptr ? st->mode : mode_of(false, c.host_config);
  std::string ip, gw, mac;
  int prefix = 0;
  if (st != nullptr && st->has_address) {
    ip = st->address.to_string();
    gw = st->gateway.to_string();
    mac = st->mac;
    prefix = st->prefix;
  }
  json ports = json::object();
  if (st != nullptr && mode == "bridge") {
    json exposed = c.config.value("ExposedPorts", json::object());
    if (exposed.is_object()) {
      for (const auto& [key, v] : exposed.items()) {
        auto [port, proto] = parse_port_key(key);
        ports[std::to_string(port) + "/" + net::to_string(proto)] = nullptr;
      }
    }
    for (const PublishedPort& p : st->ports) {
      std::string key = std::to_string(p.container_port) + "/" + net::to_string(p.proto);
      if (!ports[key].is_array()) ports[key] = json::array();
      ports[key].push_back({{"HostIp", p.host_ip}, {"HostPort", std::to_string(p.host_port)}});
    }
  }
  json endpoint = {{"IPAMConfig", nullptr},
                   {"Links", nullptr},
                   {"Aliases", nullptr},
                   {"MacAddress", mac},
                   {"NetworkID", network_id(mode)},
                   {"EndpointID", st != nullptr ? network_id(c.id + mode) : ""},
                   {"Gateway", gw},
                   {"IPAddress", ip},
                   {"IPPrefixLen", prefix},
                   {"IPv6Gateway", ""},
                   {"GlobalIPv6Address", ""},
                   {"GlobalIPv6PrefixLen", 0},
                   {"DriverOpts", nullptr},
                   {"DNSNames", nullptr}};
  return {{"Bridge", ""},
          {"SandboxID", ""},
          {"HairpinMode", false},
          {"LinkLocalIPv6Address", ""},
          {"LinkLocalIPv6PrefixLen", 0},
          {"Ports", ports},
          {"SandboxKey", st != nullptr && c.pid > 0 ? "/proc/" + std::to_string(c.pid) + "/ns/net" : ""},
          {"SecondaryIPAddresses", nullptr},
          {"SecondaryIPv6Addresses", nullptr},
          {"EndpointID", mode == "bridge" ? endpoint["EndpointID"] : json("")},
          {"Gateway", gw},
          {"GlobalIPv6Address", ""},
          {"GlobalIPv6PrefixLen", 0},
          {"IPAddress", ip},
          {"IPPrefixLen", prefix},
          {"IPv6Gateway", ""},
          {"MacAddress", mac},
          {"Networks", {{mode, endpoint}}}};
}

json NetworkManager::ports(const Container& c) {
  json out = json::array();
  const ContainerNet* st = c.running() ? c.net.get() : nullptr;
  if (st == nullptr || st->mode != "bridge") return out;
  std::set<std::pair<std::uint16_t, net::Proto>> published;
  for (const PublishedPort& p : st->ports) {
    published.insert({p.container_port, p.proto});
    out.push_back({{"IP", p.host_ip},
                   {"PrivatePort", p.container_port},
                   {"PublicPort", p.host_port},
                   {"Type", net::to_string(p.proto)}});
  }
  json exposed = c.config.value("ExposedPorts", json::object());
  if (exposed.is_object()) {
    for (const auto& [key, v] : exposed.items()) {
      auto [port, proto] = parse_port_key(key);
      if (published.count({port, proto}) == 0) {
        out.push_back({{"PrivatePort", port}, {"Type", net::to_string(proto)}});
      }
    }
  }
  return out;
}

json NetworkManager::list_networks(const Container& c) {
  json s = settings(c);
  json out = json::object();
  for (const auto& [name, ep] : s["Networks"].items()) {
    out[name] = {{"NetworkID", ep["NetworkID"]},     {"EndpointID", ep["EndpointID"]},
                 {"Gateway", ep["Gateway"]},         {"IPAddress", ep["IPAddress"]},
                 {"IPPrefixLen", ep["IPPrefixLen"]}, {"MacAddress", ep["MacAddress"]}};
  }
  return out;
}

}  // namespace bocker::daemon
