#include "bocker/net/ipam.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::net {
namespace {

class IpamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bocker-ipam-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/network/bridge0";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_;
  std::string dir_;
};

TEST_F(IpamTest, AllocatesDistinctHostAddressesIdempotently) {
  Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
  std::set<Ipv4> seen;
  for (int i = 0; i < 50; ++i) {
    Ipv4 ip = ipam.allocate("c" + std::to_string(i));
    EXPECT_TRUE(ipam.subnet().contains(ip));
    EXPECT_NE(ip, ipam.subnet().network);
    EXPECT_NE(ip, ipam.subnet().gateway());
    EXPECT_NE(ip, ipam.subnet().broadcast());
    EXPECT_TRUE(seen.insert(ip).second) << "address handed out twice: " << ip.to_string();
  }
  EXPECT_EQ(ipam.allocate("c7"), ipam.owners().at("c7"));
  EXPECT_EQ(ipam.owners().size(), 50U);
  EXPECT_EQ(ipam.allocate("c0").to_string(), "10.202.0.2");
  ASSERT_TRUE(ipam.lookup("c1").has_value());
  EXPECT_EQ(ipam.lookup("c1")->to_string(), "10.202.0.3");
  EXPECT_FALSE(ipam.lookup("nobody").has_value());
}

TEST_F(IpamTest, ExhaustsTinySubnetWithConflictAndRecoversAfterRelease) {
  // /29: network .0, gateway .1, broadcast .7 -> hosts .2 .. .6
  Ipam ipam(dir_, Cidr::parse("10.202.0.0/29"));
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) got.insert(ipam.allocate("c" + std::to_string(i)).to_string());
  EXPECT_EQ(got,
            (std::set<std::string>{"10.202.0.2", "10.202.0.3", "10.202.0.4", "10.202.0.5", "10.202.0.6"}));
  try {
    ipam.allocate("c5");
    FAIL() << "allocated beyond the subnet";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConflict);
    EXPECT_NE(std::string(e.what()).find("10.202.0.0/29"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ipam.lookup("c5").has_value());
  EXPECT_TRUE(ipam.release("c2"));
  EXPECT_FALSE(ipam.release("c2"));
  EXPECT_EQ(ipam.allocate("c5").to_string(), "10.202.0.4");
}

TEST_F(IpamTest, FreedAddressIsNotReusedAtOnce) {
  Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
  Ipv4 a = ipam.allocate("a");
  ipam.allocate("b");
  ASSERT_TRUE(ipam.release("a"));
  EXPECT_NE(ipam.allocate("c"), a);
}

TEST_F(IpamTest, SurvivesRestart) {
  std::map<std::string, Ipv4> before;
  {
    Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
    for (int i = 0; i < 10; ++i) ipam.allocate("c" + std::to_string(i));
    ipam.release("c3");
    before = ipam.owners();
  }
  Ipam again(dir_, Cidr::parse("10.202.0.0/24"));
  EXPECT_EQ(again.owners(), before);
  EXPECT_EQ(again.allocate("c5"), before.at("c5"));
  Ipv4 fresh = again.allocate("new");
  for (const auto& [owner, ip] : before) EXPECT_NE(ip, fresh) << owner;
  Ipam third(dir_, Cidr::parse("10.202.0.0/24"));
  EXPECT_EQ(third.lookup("new"), fresh);
}

TEST_F(IpamTest, RejectsBadInputWithoutChangingState) {
  EXPECT_THROW(Ipam(dir_, Cidr::parse("10.202.0.0/31")), Error);
  EXPECT_THROW(Cidr::parse("10.202.0.0/99"), Error);
  Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
  ipam.allocate("a");
  std::string before = read_file(ipam.state_file());
  EXPECT_THROW(ipam.allocate(""), Error);
  EXPECT_THROW(ipam.allocate(std::string("bad\nid")), Error);
  EXPECT_THROW(ipam.allocate(std::string(300, 'x')), Error);
  EXPECT_EQ(read_file(ipam.state_file()), before);
  try {
    Ipam other(dir_, Cidr::parse("10.203.0.0/24"));
    FAIL() << "opened state of another subnet";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConflict);
    EXPECT_NE(std::string(e.what()).find("10.202.0.0/24"), std::string::npos) << e.what();
  }
}

TEST_F(IpamTest, CorruptStateIsAnErrorNamingTheFile) {
  make_dirs(dir_);
  for (const char* bad :
       {"not json", R"({"allocations":{}})", R"({"subnet":"10.202.0.0/24","allocations":{"a":"10.202.0.1"}})",
        R"({"subnet":"10.202.0.0/24","allocations":{"a":"10.202.0.9","b":"10.202.0.9"}})",
        R"({"subnet":"10.202.0.0/24","allocations":{"a":"10.9.0.9"}})"}) {
    write_file_atomic(dir_ + "/ipam.json", bad);
    try {
      Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir_ + "/ipam.json"), std::string::npos) << e.what();
    }
  }
}

// ipam.json is saved without fsync: after a power loss it may come back empty or zero-filled.
// Nothing runs after a reboot, so that is an empty allocator, not an error.
TEST_F(IpamTest, EmptyOrZeroFilledStateAfterPowerLossIsAnEmptyAllocator) {
  make_dirs(dir_);
  for (std::string content : {std::string(), std::string(64, '\0')}) {
    write_file_atomic(dir_ + "/ipam.json", content);
    Ipam ipam(dir_, Cidr::parse("10.202.0.0/24"));
    EXPECT_TRUE(ipam.owners().empty());
    EXPECT_EQ(ipam.allocate("a").to_string(), "10.202.0.2");
  }
}

}  // namespace
}  // namespace bocker::net
