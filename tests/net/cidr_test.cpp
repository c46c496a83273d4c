#include "bocker/net/cidr.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "bocker/runtime/error.hpp"

namespace bocker::net {
namespace {

TEST(Ipv4, ParsesAndFormats) {
  EXPECT_EQ(Ipv4::parse("10.201.0.1").value, 0x0AC90001U);
  EXPECT_EQ(Ipv4::parse("0.0.0.0").value, 0U);
  EXPECT_EQ(Ipv4::parse("255.255.255.255").value, 0xffffffffU);
  EXPECT_EQ(Ipv4{0xC0A80A05U}.to_string(), "192.168.10.5");
  EXPECT_EQ(Ipv4::parse("1.2.3.4").to_be(), htonl(0x01020304U));
  EXPECT_EQ(Ipv4::from_be(htonl(0x01020304U)), Ipv4::parse("1.2.3.4"));
}

TEST(Ipv4, RejectsMalformed) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..3.4", "1.2.3.4 ", " 1.2.3.4",
                          "a.b.c.d", "1.2.3.-4", "1.2.3.4/8", "1234.1.1.1"}) {
    try {
      Ipv4::parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Cidr, ParsesFormatsAndDerivesAddresses) {
  Cidr c = Cidr::parse("10.201.0.0/16");
  EXPECT_EQ(c.network, Ipv4::parse("10.201.0.0"));
  EXPECT_EQ(c.prefix, 16);
  EXPECT_EQ(c.to_string(), "10.201.0.0/16");
  EXPECT_EQ(c.mask(), 0xffff0000U);
  EXPECT_EQ(c.gateway().to_string(), "10.201.0.1");
  EXPECT_EQ(c.broadcast().to_string(), "10.201.255.255");
  EXPECT_EQ(c.size(), 65536U);
  EXPECT_TRUE(c.contains(Ipv4::parse("10.201.3.4")));
  EXPECT_FALSE(c.contains(Ipv4::parse("10.202.0.1")));
  EXPECT_TRUE(c.usable_for_bridge());
  EXPECT_EQ(c, Cidr::parse(kDefaultSubnet));
  EXPECT_EQ(c, (Cidr{Ipv4{0x0AC90000U}, 16}));

  Cidr all = Cidr::parse("0.0.0.0/0");
  EXPECT_EQ(all.mask(), 0U);
  EXPECT_EQ(all.size(), 1ULL << 32);
  EXPECT_TRUE(all.contains(Ipv4::parse("8.8.8.8")));
  EXPECT_EQ(all.broadcast().to_string(), "255.255.255.255");

  Cidr host = Cidr::parse("192.0.2.7/32");
  EXPECT_EQ(host.mask(), 0xffffffffU);
  EXPECT_EQ(host.size(), 1U);
  EXPECT_FALSE(host.usable_for_bridge());

  Cidr small = Cidr::parse("10.202.0.8/30");
  EXPECT_EQ(small.gateway().to_string(), "10.202.0.9");
  EXPECT_EQ(small.broadcast().to_string(), "10.202.0.11");
  EXPECT_TRUE(small.usable_for_bridge());
  EXPECT_FALSE(Cidr::parse("10.202.0.8/31").usable_for_bridge());
}

TEST(Cidr, RejectsMalformed) {
  for (const char* bad : {"", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/08",
                          "10.0.0.0/1a", "10.0.0.1/24", "10.201.0.0/8", "300.0.0.0/8", "10.0.0/8",
                          "10.0.0.0/16/2", " 10.0.0.0/8", "10.0.0.0/123"}) {
    try {
      Cidr::parse(bad);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_NE(std::string(e.what()).find("invalid subnet"), std::string::npos) << e.what();
    }
  }
  try {
    Cidr::parse("10.0.0.1/24");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("10.0.0.0/24"), std::string::npos)
        << "names the network address: " << e.what();
  }
}

}  // namespace
}  // namespace bocker::net
