#include "bocker/daemon/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "bocker/runtime/error.hpp"

using bocker::daemon::parse_args;

TEST(DaemonConfig, Defaults) {
  auto c = parse_args({});
  EXPECT_EQ(c.root, "/var/lib/bocker");
  EXPECT_EQ(c.host, "unix:///run/bocker.sock");
  EXPECT_EQ(c.metrics_addr, "127.0.0.1:9323");
}

TEST(DaemonConfig, AllForms) {
  auto c = parse_args({"--root=/srv/b/", "-H", "tcp://127.0.0.1:2375", "--metrics-addr", "", "--workers", "4"});
  EXPECT_EQ(c.root, "/srv/b");
  EXPECT_EQ(c.host, "tcp://127.0.0.1:2375");
  EXPECT_EQ(c.metrics_addr, "");
  EXPECT_EQ(c.workers, 4U);
}

TEST(DaemonConfig, BadValuesNameTheProblem) {
  auto expect_invalid = [](std::vector<std::string> args, const std::string& needle) {
    try {
      parse_args(args);
      ADD_FAILURE() << "accepted " << args[0];
    } catch (const bocker::Error& e) {
      EXPECT_EQ(e.kind(), bocker::Error::Kind::kInvalid);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid({"--host", "http://x"}, "unix:///path or tcp://");
  expect_invalid({"--host", "unix://relative"}, "absolute socket path");
  expect_invalid({"--workers", "0"}, "from 1 to 64");
  expect_invalid({"--workers", "3x"}, "from 1 to 64");
  expect_invalid({"--root"}, "needs a value");
  expect_invalid({"--metrics-addr", "9323"}, "HOST:PORT");
}

TEST(DaemonConfig, BridgeFlags) {
  auto d = parse_args({});
  EXPECT_EQ(d.bridge, "bridge0");
  EXPECT_EQ(d.bridge_subnet, "10.201.0.0/16");
  EXPECT_EQ(d.nft_table, "");
  auto c = parse_args({"--bridge", "bkd42", "--bridge-subnet=10.203.4.0/24", "--nft-table", "bocker_t42"});
  EXPECT_EQ(c.bridge, "bkd42");
  EXPECT_EQ(c.bridge_subnet, "10.203.4.0/24");
  EXPECT_EQ(c.nft_table, "bocker_t42");
  EXPECT_EQ(parse_args({"-b", "none"}).bridge, "none");

  auto expect_invalid = [](std::vector<std::string> args, const std::string& needle) {
    try {
      parse_args(args);
      ADD_FAILURE() << "accepted " << args[0] << " " << args[1];
    } catch (const bocker::Error& e) {
      EXPECT_EQ(e.kind(), bocker::Error::Kind::kInvalid);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid({"--bridge", "a-name-longer-than-15"}, "invalid bridge name");
  expect_invalid({"--bridge", "bad/name"}, "invalid bridge name");
  expect_invalid({"--bridge-subnet", "10.203.0.1/16"}, "--bridge-subnet '10.203.0.1/16'");
  expect_invalid({"--bridge-subnet", "10.203.0.0/31"}, "at most /30");
  expect_invalid({"--bridge-subnet", "nonsense"}, "--bridge-subnet");
  expect_invalid({"--nft-table", "no spaces"}, "invalid nftables table name");
}

TEST(RootLock, SecondHolderIsRefusedAndReleasedOnDestruction) {
  char tmpl[] = "/tmp/bocker-lock-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = std::string(tmpl) + "/root";
  {
    auto lock = bocker::daemon::RootLock::acquire(root);
    // flock locks belong to the open file description: a second open in this process conflicts too.
    EXPECT_THROW(bocker::daemon::RootLock::acquire(root), bocker::Error);
  }
  EXPECT_NO_THROW(bocker::daemon::RootLock::acquire(root));
  std::filesystem::remove_all(tmpl);
}
