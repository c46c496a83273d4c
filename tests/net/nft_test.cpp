// nftables NAT and port-mapping tests (root only): a table of this process's own
// (bocker_test_<pid>), deleted in TearDown; traffic only inside a test bridge and netns.
#include "bocker/net/nft.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>

#include <filesystem>

#include "bocker/net/network.hpp"
#include "bocker/runtime/error.hpp"
#include "net_test_util.hpp"

namespace bocker::net {
namespace {

using test::sh;
using test::TestNetns;

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) ++n;
  return n;
}

TEST(Proto, ParsesAndFormats) {
  EXPECT_EQ(parse_proto("tcp"), Proto::kTcp);
  EXPECT_EQ(parse_proto("UDP"), Proto::kUdp);
  EXPECT_EQ(to_string(Proto::kUdp), "udp");
  EXPECT_EQ(to_string(Proto::kTcp), "tcp");
  EXPECT_THROW(parse_proto("sctp"), Error);
  EXPECT_THROW(parse_proto(""), Error);
}

class NftTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for nftables, bridges and netns";
    if (!test::have_tool("ip") || !test::have_tool("nft"))
      GTEST_SKIP() << "needs the ip and nft tools to check";
    pid_ = ::getpid();
    cfg_.bridge = "bkn" + std::to_string(pid_);
    cfg_.nft_table = "bocker_test_" + std::to_string(pid_);
    cfg_.subnet = Cidr{Ipv4{0x0ACA0000U + static_cast<std::uint32_t>((pid_ + 512) % 1024) * 64}, 26};
    active_ = true;
  }
  void TearDown() override {
    if (!active_) return;
    for (int n = 0; n < 4; ++n) sh("ip link del dev " + host_ifname(id(n)));
    sh("ip link del dev " + cfg_.bridge);
    sh("nft delete table ip " + cfg_.nft_table);
  }
  std::string id(int n) const { return "n" + std::to_string(pid_) + "x" + std::to_string(n) + "deadbeef"; }
  std::string table_text() const { return sh("nft list table ip " + cfg_.nft_table).out; }
  // A test port unlikely to collide with parallel test processes.
  std::uint16_t port(int n) const { return static_cast<std::uint16_t>(30000 + (pid_ % 3000) * 8 + n); }

  pid_t pid_ = 0;
  NetworkConfig cfg_;
  bool active_ = false;
};

TEST_F(NftTest, PortMappingsAreAddedAndRemovedExactly) {
  ensure_nat_table(cfg_);
  const Ipv4 gw = cfg_.subnet.gateway();
  const Ipv4 c1{gw.value + 1};
  const Ipv4 c2{gw.value + 2};
  add_port_mapping(cfg_.nft_table, {id(1), Ipv4{0}, port(0), Proto::kTcp, c1, 80});
  add_port_mapping(cfg_.nft_table, {id(1), gw, port(1), Proto::kUdp, c1, 53});
  add_port_mapping(cfg_.nft_table, {id(2), gw, port(2), Proto::kTcp, c2, 8080});

  std::string text = table_text();
  EXPECT_EQ(count(text, "comment \"bocker:" + id(1) + "\""), 4U) << text;
  EXPECT_EQ(count(text, "comment \"bocker:" + id(2) + "\""), 2U) << text;
  EXPECT_EQ(count(text, "tcp dport " + std::to_string(port(0))), 2U) << text;
  EXPECT_EQ(count(text, "dnat to " + c1.to_string() + ":80"), 2U) << text;
  EXPECT_EQ(count(text, "ip daddr " + gw.to_string() + " udp dport " + std::to_string(port(1))), 2U) << text;
  EXPECT_EQ(count(text, "dnat to " + c1.to_string() + ":53"), 2U) << text;
  EXPECT_EQ(count(text, "ip daddr != 127.0.0.0/8"), 3U) << "output chain rules skip loopback: " << text;
  EXPECT_EQ(port_mapping_owners(cfg_.nft_table),
            (std::map<std::string, std::size_t>{{id(1), 4}, {id(2), 2}}));

  // Bad input changes nothing.
  EXPECT_THROW(add_port_mapping(cfg_.nft_table, {id(3), gw, 0, Proto::kTcp, c2, 80}), Error);
  EXPECT_THROW(add_port_mapping(cfg_.nft_table, {id(3), gw, port(3), Proto::kTcp, c2, 0}), Error);
  EXPECT_THROW(add_port_mapping(cfg_.nft_table, {"x\" accept #", gw, port(3), Proto::kTcp, c2, 80}), Error);
  EXPECT_THROW(add_port_mapping("bad table", {id(3), gw, port(3), Proto::kTcp, c2, 80}), Error);
  EXPECT_EQ(table_text(), text);

  EXPECT_EQ(remove_port_mappings(cfg_.nft_table, id(1)), 4U);
  std::string after = table_text();
  EXPECT_EQ(count(after, "bocker:" + id(1)), 0U) << after;
  EXPECT_EQ(count(after, "comment \"bocker:" + id(2) + "\""), 2U) << after;
  EXPECT_EQ(count(after, "masquerade comment \"bocker-masquerade\""), 1U) << after;
  EXPECT_EQ(remove_port_mappings(cfg_.nft_table, id(1)), 0U);
  EXPECT_EQ(port_mapping_owners(cfg_.nft_table), (std::map<std::string, std::size_t>{{id(2), 2}}));

  // Re-installing the NAT table keeps the port mappings.
  ensure_nat_table(cfg_);
  EXPECT_EQ(port_mapping_owners(cfg_.nft_table), (std::map<std::string, std::size_t>{{id(2), 2}}));
  EXPECT_EQ(count(table_text(), "masquerade comment \"bocker-masquerade\""), 1U);

  delete_nat_table(cfg_.nft_table);
  EXPECT_FALSE(nat_table_exists(cfg_.nft_table));
  EXPECT_EQ(remove_port_mappings(cfg_.nft_table, id(2)), 0U);
  EXPECT_TRUE(port_mapping_owners(cfg_.nft_table).empty());
  delete_nat_table(cfg_.nft_table);  // idempotent
}

// A TCP listener inside netns `ns` on `port`; returns the listening socket.
Fd listen_in(const TestNetns& ns, std::uint16_t port) {
  Fd s = test::socket_in_netns(ns.fd(), AF_INET, SOCK_STREAM, 0);
  if (!s) return s;
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s.get(), 4) != 0)
    return Fd();
  return s;
}

// Connects `client` to dst:port, accepts on `listener` and passes a few bytes through.
void expect_connection(Fd client, Ipv4 dst, std::uint16_t port, int listener) {
  ASSERT_TRUE(client.valid()) << std::strerror(errno);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = dst.to_be();
  timeval tv{3, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0)
      << "connect " << dst.to_string() << ":" << port << ": " << std::strerror(errno);
  pollfd pfd{listener, POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 3000), 1) << "no connection reached the container";
  Fd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid()) << std::strerror(errno);
  ASSERT_EQ(::write(client.get(), "ping", 4), 4);
  char buf[4] = {};
  pollfd cp{conn.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&cp, 1, 3000), 1);
  ASSERT_EQ(::read(conn.get(), buf, 4), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST_F(NftTest, PublishedPortReachesTheContainerFromHostAndOtherContainer) {
  ensure_bridge(cfg_);
  TestNetns a(("bkn" + std::to_string(pid_)) + "a");
  TestNetns b(("bkn" + std::to_string(pid_)) + "b");
  const Ipv4 gw = cfg_.subnet.gateway();
  Endpoint ea = create_endpoint(cfg_, a.fd(), {id(1), Ipv4{gw.value + 1}});
  Endpoint eb = create_endpoint(cfg_, b.fd(), {id(2), Ipv4{gw.value + 2}});
  Fd listener = listen_in(a, 8080);
  ASSERT_TRUE(listener.valid()) << std::strerror(errno);
  add_port_mapping(cfg_.nft_table, {id(1), gw, port(0), Proto::kTcp, ea.address(), 8080});

  // From the host itself (nat output chain): the gateway address is a local, non-loopback one.
  expect_connection(Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), gw, port(0), listener.get());
  // From another container (nat prerouting chain, hairpin masquerade back through the bridge).
  expect_connection(test::socket_in_netns(b.fd(), AF_INET, SOCK_STREAM, 0), gw, port(0), listener.get());

  // Once removed, the host port no longer leads to the container.
  ASSERT_EQ(remove_port_mappings(cfg_.nft_table, id(1)), 2U);
  Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port(0));
  to.sin_addr.s_addr = gw.to_be();
  EXPECT_NE(::connect(c.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
}

}  // namespace
}  // namespace bocker::net
