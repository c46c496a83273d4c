#include "bocker/cli/host.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bocker/runtime/error.hpp"

namespace bocker::cli {
namespace {

using ::testing::HasSubstr;

TEST(Host, ParsesUnix) {
  Host h = parse_host("unix:///run/x.sock");
  EXPECT_TRUE(h.is_unix());
  EXPECT_EQ(h.path, "/run/x.sock");
  EXPECT_EQ(h.uri, "unix:///run/x.sock");
  EXPECT_EQ(h.base_url(), "http://localhost");
}

TEST(Host, ParsesTcp) {
  Host h = parse_host("tcp://127.0.0.1:2376");
  EXPECT_FALSE(h.is_unix());
  EXPECT_EQ(h.host, "127.0.0.1");
  EXPECT_EQ(h.port, 2376);
  EXPECT_EQ(h.base_url(), "http://127.0.0.1:2376");
  EXPECT_EQ(parse_host("tcp://example").port, 2375);
}

TEST(Host, ParsesTcpIpv6) {
  Host h = parse_host("tcp://[::1]:99");
  EXPECT_EQ(h.host, "::1");
  EXPECT_EQ(h.port, 99);
  EXPECT_EQ(h.uri, "tcp://[::1]:99");
  EXPECT_EQ(h.base_url(), "http://[::1]:99");
}

TEST(Host, RejectsBadValues) {
  for (const char* bad : {"", "/run/x.sock", "unix://rel.sock", "unix://", "http://x", "tcp://", "tcp://h:0",
                          "tcp://h:70000", "tcp://h:12ab", "tcp://[::1", "tcp://h:1/path"}) {
    try {
      parse_host(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_THAT(e.what(), HasSubstr("invalid daemon host \"" + std::string(bad) + "\""));
    }
  }
}

TEST(Host, DefaultWhenNothingSet) {
  Env env = Env::from_map({});
  EXPECT_EQ(select_host("", env).uri, "unix:///run/bocker.sock");
}

TEST(Host, EnvBeatsDefault) {
  Env env = Env::from_map({{"BOCKER_HOST", "unix:///tmp/b.sock"}});
  EXPECT_EQ(select_host("", env).uri, "unix:///tmp/b.sock");
}

TEST(Host, FlagBeatsEnv) {
  Env env = Env::from_map({{"BOCKER_HOST", "unix:///tmp/b.sock"}});
  EXPECT_EQ(select_host("tcp://localhost:1234", env).uri, "tcp://localhost:1234");
}

TEST(Host, EmptyEnvIgnoredAndDockerHostNotUsed) {
  Env env = Env::from_map({{"BOCKER_HOST", ""}, {"DOCKER_HOST", "unix:///var/run/docker.sock"}});
  EXPECT_EQ(select_host("", env).uri, "unix:///run/bocker.sock");
}

TEST(Host, BadEnvValueNamed) {
  Env env = Env::from_map({{"BOCKER_HOST", "nonsense"}});
  EXPECT_THROW(select_host("", env), Error);
}

}  // namespace
}  // namespace bocker::cli
