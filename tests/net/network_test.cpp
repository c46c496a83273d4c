// Real bridge, veth, netns and nftables tests (root only). Every test uses its own bridge
// (bkt<pid>), subnet (a /26 inside 10.202.0.0/16), nftables table (bocker_test_<pid>) and
// network namespaces, and removes them all in TearDown, also after a failure.
#include "bocker/net/network.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "bocker/net/ipam.hpp"
#include "bocker/net/nft.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "net_test_util.hpp"

namespace bocker::net {
namespace {

using test::CmdResult;
using test::ping_from;
using test::sh;
using test::TestNetns;

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

bool link_exists(const std::string& name) { return sh("ip link show dev " + name).status == 0; }

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create bridges, veths, netns and nftables tables";
    if (!test::have_tool("ip") || !test::have_tool("nft"))
      GTEST_SKIP() << "needs the ip and nft tools to check";
    pid_ = ::getpid();
    cfg_.bridge = "bkt" + std::to_string(pid_);
    cfg_.nft_table = "bocker_test_" + std::to_string(pid_);
    cfg_.subnet = Cidr{Ipv4{0x0ACA0000U + static_cast<std::uint32_t>(pid_ % 1024) * 64}, 26};
    char tmpl[] = "/tmp/bocker-net-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    active_ = true;
  }

  void TearDown() override {
    if (!active_) return;
    for (int n = 0; n < 8; ++n) sh("ip link del dev " + host_ifname(id(n)));
    sh("ip link del dev " + cfg_.bridge);
    sh("nft delete table ip " + cfg_.nft_table);
    std::filesystem::remove_all(dir_);
  }

  // Container ids unique to this process; host veth names differ in their first 11 characters.
  std::string id(int n) const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "c%07d%03d", static_cast<int>(pid_ % 10000000), n);
    return std::string(buf) + "0123456789abcdef0123456789abcdef0123456789abcdef0123";
  }
  std::string ns_name(char c) const { return "bkt" + std::to_string(pid_) + c; }
  std::string nft_table_text() const { return sh("nft list table ip " + cfg_.nft_table).out; }

  pid_t pid_ = 0;
  NetworkConfig cfg_;
  std::string dir_;
  bool active_ = false;
};

TEST_F(NetworkTest, EnsureBridgeCreatesBridgeGatewayAndNatTableIdempotently) {
  ensure_bridge(cfg_);
  ensure_bridge(cfg_);
  CmdResult link = sh("ip -d link show dev " + cfg_.bridge);
  ASSERT_EQ(link.status, 0) << link.out;
  EXPECT_NE(link.out.find("bridge"), std::string::npos) << link.out;
  EXPECT_NE(link.out.find(",UP"), std::string::npos) << link.out;
  EXPECT_GT(bridge_index(cfg_.bridge), 0);
  CmdResult addr = sh("ip -o -4 addr show dev " + cfg_.bridge);
  const std::string gw = cfg_.subnet.gateway().to_string() + "/26";
  EXPECT_EQ(count(addr.out, "inet "), 1U) << addr.out;
  EXPECT_NE(addr.out.find(gw), std::string::npos) << addr.out;
  EXPECT_EQ(read_file("/proc/sys/net/ipv4/ip_forward"), "1\n");

  std::string nft = nft_table_text();
  const std::string masq =
      "ip saddr " + cfg_.subnet.to_string() + " oifname != \"" + cfg_.bridge + "\" masquerade";
  EXPECT_EQ(count(nft, masq), 1U) << nft;
  EXPECT_NE(nft.find("type nat hook prerouting"), std::string::npos) << nft;
  EXPECT_NE(nft.find("type nat hook output"), std::string::npos) << nft;
  EXPECT_NE(nft.find("type filter hook forward"), std::string::npos) << nft;
  EXPECT_EQ(count(nft, "iifname \"" + cfg_.bridge + "\" accept"), 1U) << nft;
  EXPECT_TRUE(nat_table_exists(cfg_.nft_table));

  delete_bridge(cfg_);
  EXPECT_FALSE(link_exists(cfg_.bridge));
  EXPECT_FALSE(nat_table_exists(cfg_.nft_table));
  EXPECT_EQ(bridge_index(cfg_.bridge), 0);
  delete_bridge(cfg_);  // idempotent
}

TEST_F(NetworkTest, EnsureBridgeRefusesNonBridgeAndBadConfig) {
  ASSERT_EQ(sh("ip link add " + cfg_.bridge + " type veth peer name " + cfg_.bridge + "p").status, 0);
  try {
    ensure_bridge(cfg_);
    ADD_FAILURE() << "took a veth for a bridge";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConflict);
    EXPECT_NE(std::string(e.what()).find(cfg_.bridge), std::string::npos) << e.what();
  }
  EXPECT_TRUE(link_exists(cfg_.bridge));
  EXPECT_THROW(delete_bridge(cfg_), Error);
  EXPECT_TRUE(link_exists(cfg_.bridge));

  NetworkConfig bad = cfg_;
  bad.bridge = "bad name";
  EXPECT_THROW(ensure_bridge(bad), Error);
  bad = cfg_;
  bad.bridge = "a-name-that-is-too-long";
  EXPECT_THROW(ensure_bridge(bad), Error);
  bad = cfg_;
  bad.nft_table = "x\"; flush ruleset";
  EXPECT_THROW(ensure_bridge(bad), Error);
  bad = cfg_;
  bad.subnet = Cidr::parse("10.202.0.0/31");
  EXPECT_THROW(ensure_bridge(bad), Error);
  EXPECT_FALSE(nat_table_exists(cfg_.nft_table));
}

TEST_F(NetworkTest, EndpointsInTwoNetnsPingEachOtherAndTheGateway) {
  ensure_bridge(cfg_);
  Ipam ipam(dir_ + "/network/" + cfg_.bridge, cfg_.subnet);
  TestNetns a(ns_name('a'));
  TestNetns b(ns_name('b'));
  Endpoint ea = create_endpoint(cfg_, a.fd(), {id(1), ipam.allocate(id(1))});
  Endpoint eb = create_endpoint(cfg_, b.fd(), {id(2), ipam.allocate(id(2))});
  const Ipv4 gw = cfg_.subnet.gateway();

  EXPECT_EQ(ea.host_ifname(), "bk" + id(1).substr(0, 11));
  EXPECT_EQ(ea.gateway(), gw);
  EXPECT_EQ(ea.prefix(), 26);
  EXPECT_EQ(ea.mac(), mac_for(ea.address()));
  CmdResult host = sh("ip -o link show dev " + ea.host_ifname());
  EXPECT_NE(host.out.find("master " + cfg_.bridge), std::string::npos) << host.out;
  EXPECT_NE(host.out.find(",UP"), std::string::npos) << host.out;

  CmdResult addr = a.exec("ip -o -4 addr show dev eth0");
  EXPECT_NE(addr.out.find(ea.address().to_string() + "/26"), std::string::npos) << addr.out;
  CmdResult route = a.exec("ip -4 route show default");
  EXPECT_NE(route.out.find("default via " + gw.to_string() + " dev eth0"), std::string::npos) << route.out;
  CmdResult lo = a.exec("ip -o link show dev lo");
  EXPECT_NE(lo.out.find(",UP"), std::string::npos) << lo.out;
  CmdResult eth = a.exec("ip -o link show dev eth0");
  EXPECT_NE(eth.out.find(ea.mac()), std::string::npos) << eth.out;

  EXPECT_TRUE(ping_from(a.fd(), gw)) << "netns a -> gateway";
  EXPECT_TRUE(ping_from(b.fd(), gw)) << "netns b -> gateway";
  EXPECT_TRUE(ping_from(a.fd(), eb.address())) << "netns a -> b";
  EXPECT_TRUE(ping_from(b.fd(), ea.address())) << "netns b -> a";
  EXPECT_TRUE(ping_from(a.fd(), Ipv4::parse("127.0.0.1"))) << "lo is up in netns a";

  // The owner deletes the host end (and with it the peer) unless committed.
  const std::string name = ea.host_ifname();
  const Ipv4 a_addr = ea.address();
  ea.reset();
  EXPECT_FALSE(link_exists(name));
  EXPECT_NE(a.exec("ip link show dev eth0").status, 0);
  EXPECT_FALSE(ping_from(b.fd(), a_addr)) << "a's address still answers after its endpoint was deleted";
  { Endpoint moved = std::move(eb); }
  EXPECT_FALSE(link_exists(host_ifname(id(2))));
}

TEST_F(NetworkTest, CommittedEndpointStaysUntilRemoveEndpoint) {
  ensure_bridge(cfg_);
  TestNetns a(ns_name('a'));
  Ipv4 ip{cfg_.subnet.gateway().value + 1};
  {
    Endpoint e = create_endpoint(cfg_, a.fd(), {id(1), ip});
    e.commit();
  }
  EXPECT_TRUE(link_exists(host_ifname(id(1))));
  EXPECT_TRUE(ping_from(a.fd(), cfg_.subnet.gateway()));
  EXPECT_TRUE(remove_endpoint(id(1)));
  EXPECT_FALSE(link_exists(host_ifname(id(1))));
  EXPECT_FALSE(remove_endpoint(id(1)));
  EXPECT_THROW(remove_endpoint("bad/id"), Error);
}

TEST_F(NetworkTest, EndpointForPidConfiguresThatProcessNetns) {
  ensure_bridge(cfg_);
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
    char c = 'x';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    for (;;) ::pause();
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{child};
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);

  Ipv4 ip{cfg_.subnet.gateway().value + 5};
  Endpoint e = create_endpoint_for_pid(cfg_, child, {id(3), ip});
  CmdResult addr = sh("nsenter -t " + std::to_string(child) + " -n ip -o -4 addr show dev eth0");
  EXPECT_NE(addr.out.find(ip.to_string() + "/26"), std::string::npos) << addr.out;
  Fd ns(::open(("/proc/" + std::to_string(child) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ns.valid());
  EXPECT_TRUE(ping_from(ns.get(), cfg_.subnet.gateway()));

  EXPECT_THROW(create_endpoint_for_pid(cfg_, 0x3fffffff, {id(4), Ipv4{ip.value + 1}}), SystemError);
  EXPECT_FALSE(link_exists(host_ifname(id(4))));
}

TEST_F(NetworkTest, CreateEndpointErrorsLeaveNothingBehind) {
  TestNetns a(ns_name('a'));
  TestNetns b(ns_name('b'));
  Ipv4 ip{cfg_.subnet.gateway().value + 1};
  try {
    create_endpoint(cfg_, a.fd(), {id(1), ip});
    ADD_FAILURE() << "created an endpoint without the bridge";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
    EXPECT_NE(std::string(e.what()).find(cfg_.bridge), std::string::npos) << e.what();
  }
  EXPECT_FALSE(link_exists(host_ifname(id(1))));

  ensure_bridge(cfg_);
  EXPECT_THROW(create_endpoint(cfg_, a.fd(), {id(1), cfg_.subnet.gateway()}), Error);
  EXPECT_THROW(create_endpoint(cfg_, a.fd(), {id(1), cfg_.subnet.broadcast()}), Error);
  EXPECT_THROW(create_endpoint(cfg_, a.fd(), {id(1), Ipv4::parse("10.9.9.9")}), Error);
  EXPECT_THROW(create_endpoint(cfg_, a.fd(), {"bad id", ip}), Error);
  EXPECT_FALSE(link_exists(host_ifname(id(1))));

  // Not a netns fd: the kernel refuses, nothing is created.
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_THROW(create_endpoint(cfg_, devnull.get(), {id(1), ip}), Error);
  EXPECT_FALSE(link_exists(host_ifname(id(1))));

  Endpoint first = create_endpoint(cfg_, a.fd(), {id(1), ip});
  try {
    create_endpoint(cfg_, b.fd(), {id(1), Ipv4{ip.value + 1}});
    ADD_FAILURE() << "created a second veth with the same name";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConflict);
    EXPECT_NE(std::string(e.what()).find(host_ifname(id(1))), std::string::npos) << e.what();
  }
  EXPECT_TRUE(link_exists(host_ifname(id(1))));
  EXPECT_NE(b.exec("ip link show dev eth0").status, 0);
  EXPECT_TRUE(ping_from(a.fd(), cfg_.subnet.gateway()));

  // eth0 already taken in netns a: the host end must not stay behind.
  try {
    create_endpoint(cfg_, a.fd(), {id(2), Ipv4{ip.value + 2}});
    ADD_FAILURE() << "created a second eth0 in one netns";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(host_ifname(id(2))), std::string::npos) << e.what();
  }
  EXPECT_FALSE(link_exists(host_ifname(id(2))));
}

TEST_F(NetworkTest, SweepRemovesStaleVethsAddressesAndPortRules) {
  ensure_bridge(cfg_);
  Ipam ipam(dir_ + "/network/" + cfg_.bridge, cfg_.subnet);
  TestNetns a(ns_name('a'));
  TestNetns b(ns_name('b'));
  TestNetns c(ns_name('c'));
  create_endpoint(cfg_, a.fd(), {id(1), ipam.allocate(id(1))}).commit();
  create_endpoint(cfg_, b.fd(), {id(2), ipam.allocate(id(2))}).commit();
  Ipv4 c_ip = ipam.allocate(id(3));
  create_endpoint(cfg_, c.fd(), {id(3), c_ip}).commit();
  ipam.allocate(id(4));  // crashed between allocation and veth creation
  Ipv4 gw = cfg_.subnet.gateway();
  add_port_mapping(cfg_.nft_table, {id(3), gw, 20080, Proto::kTcp, c_ip, 80});
  add_port_mapping(cfg_.nft_table, {id(1), gw, 20081, Proto::kTcp, *ipam.lookup(id(1)), 80});

  SweepResult r = sweep(cfg_, ipam, {id(1)});
  std::set<std::string> removed(r.removed_links.begin(), r.removed_links.end());
  EXPECT_EQ(removed, (std::set<std::string>{host_ifname(id(2)), host_ifname(id(3))}));
  std::set<std::string> released(r.released_owners.begin(), r.released_owners.end());
  EXPECT_EQ(released, (std::set<std::string>{id(2), id(3), id(4)}));
  EXPECT_EQ(r.removed_port_rules, 2U);
  EXPECT_TRUE(link_exists(host_ifname(id(1))));
  EXPECT_FALSE(link_exists(host_ifname(id(2))));
  EXPECT_FALSE(link_exists(host_ifname(id(3))));
  EXPECT_EQ(ipam.owners().size(), 1U);
  EXPECT_EQ(port_mapping_owners(cfg_.nft_table), (std::map<std::string, std::size_t>{{id(1), 2}}));
  EXPECT_TRUE(ping_from(a.fd(), gw));

  SweepResult again = sweep(cfg_, ipam, {id(1)});
  EXPECT_TRUE(again.removed_links.empty());
  EXPECT_TRUE(again.released_owners.empty());
  EXPECT_EQ(again.removed_port_rules, 0U);
}

}  // namespace
}  // namespace bocker::net
