#include "bocker/registry/image_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string dg(char c) { return "sha256:" + std::string(64, c); }

// Shaped like the config of a real nginx image.
json sample() {
  return json::parse(R"({
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-02T03:04:05.123456789Z",
    "config": {
      "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3"],
      "Entrypoint": ["/docker-entrypoint.sh"],
      "Cmd": ["nginx", "-g", "daemon off;"],
      "WorkingDir": "/",
      "User": "",
      "ExposedPorts": {"80/tcp": {}, "443/tcp": {}, "53": {}},
      "Volumes": {"/var/cache/nginx": {}},
      "Labels": {"maintainer": "NGINX Docker Maintainers"},
      "StopSignal": "SIGQUIT"
    },
    "rootfs": {"type": "layers", "diff_ids": [")" +
                     dg('1') + R"(", ")" + dg('2') + R"("]},
    "history": [{"created_by": "x"}]
  })");
}

TEST(ImageConfig, ParsesAllFields) {
  ImageConfig c = parse_image_config(sample().dump());
  EXPECT_EQ(c.architecture, "amd64");
  EXPECT_EQ(c.os, "linux");
  EXPECT_EQ(c.created, "2024-01-02T03:04:05.123456789Z");
  EXPECT_EQ(c.env.size(), 2u);
  EXPECT_THAT(c.entrypoint, ElementsAre("/docker-entrypoint.sh"));
  EXPECT_THAT(c.cmd, ElementsAre("nginx", "-g", "daemon off;"));
  EXPECT_EQ(c.working_dir, "/");
  EXPECT_EQ(c.user, "");
  EXPECT_THAT(c.exposed_ports, ElementsAre("443/tcp", "53", "80/tcp"));
  EXPECT_THAT(c.volumes, ElementsAre("/var/cache/nginx"));
  EXPECT_EQ(c.labels.at("maintainer"), "NGINX Docker Maintainers");
  EXPECT_EQ(c.stop_signal, "SIGQUIT");
  EXPECT_THAT(c.diff_ids, ElementsAre(dg('1'), dg('2')));
}

TEST(ImageConfig, NullsAndMissingConfigAreEmpty) {
  json j = {
      {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
      {"config", {{"Cmd", nullptr}, {"Entrypoint", nullptr}, {"Labels", nullptr}, {"Volumes", nullptr}}}};
  ImageConfig c = parse_image_config(j.dump());
  EXPECT_TRUE(c.cmd.empty());
  EXPECT_TRUE(c.entrypoint.empty());
  EXPECT_TRUE(c.labels.empty());
  EXPECT_TRUE(c.diff_ids.empty());
  json k = {{"rootfs", {{"type", "layers"}}}};
  EXPECT_TRUE(parse_image_config(k.dump()).diff_ids.empty());
}

TEST(ImageConfig, RoundTripsThroughToJson) {
  ImageConfig c = parse_image_config(sample().dump());
  json out = to_json(c);
  EXPECT_EQ(out["rootfs"]["type"], "layers");
  EXPECT_EQ(out["config"]["Cmd"][2], "daemon off;");
  EXPECT_TRUE(out["config"]["ExposedPorts"]["80/tcp"].is_object());
  EXPECT_FALSE(out["config"].contains("User"));
  EXPECT_EQ(parse_image_config(out.dump()), c);
}

TEST(ImageConfig, ToJsonOfEmptyConfigParses) {
  ImageConfig empty;
  json out = to_json(empty);
  EXPECT_TRUE(out["rootfs"]["diff_ids"].is_array());
  EXPECT_EQ(parse_image_config(out.dump()), empty);
}

TEST(ImageConfig, RejectsWithReason) {
  struct Case {
    std::function<void(json&)> edit;
    const char* reason;
  };
  std::vector<Case> cases = {
      {[](json& j) { j.erase("rootfs"); }, "rootfs is missing"},
      {[](json& j) { j["rootfs"] = "layers"; }, "rootfs must be an object"},
      {[](json& j) { j["rootfs"].erase("type"); }, "rootfs.type is missing"},
      {[](json& j) { j["rootfs"]["type"] = "squash"; }, "rootfs.type must be \"layers\""},
      {[](json& j) { j["rootfs"]["type"] = 1; }, "rootfs.type must be a string"},
      {[](json& j) { j["rootfs"]["diff_ids"] = "x"; }, "rootfs.diff_ids must be an array"},
      {[](json& j) { j["rootfs"]["diff_ids"][1] = "sha256:xyz"; }, "rootfs.diff_ids[1]: invalid digest"},
      {[](json& j) { j["rootfs"]["diff_ids"][0] = 3; }, "rootfs.diff_ids[0] must be a string"},
      {[](json& j) { j["architecture"] = 64; }, "architecture must be a string"},
      {[](json& j) { j["os"] = json::array(); }, "os must be a string"},
      {[](json& j) { j["created"] = 5; }, "created must be a string"},
      {[](json& j) { j["config"] = json::array(); }, "config must be an object"},
      {[](json& j) { j["config"]["Env"] = "PATH=/bin"; }, "config.Env must be an array of strings"},
      {[](json& j) { j["config"]["Env"] = {"=x"}; }, "config.Env[0]: want NAME=VALUE"},
      {[](json& j) {
         j["config"]["Cmd"] = {"a", 1};
       },
       "config.Cmd[1] must be a string"},
      {[](json& j) { j["config"]["Entrypoint"] = "sh -c"; }, "config.Entrypoint must be an array"},
      {[](json& j) { j["config"]["WorkingDir"] = 1; }, "config.WorkingDir must be a string"},
      {[](json& j) { j["config"]["User"] = 0; }, "config.User must be a string"},
      {[](json& j) { j["config"]["ExposedPorts"] = {"80"}; }, "config.ExposedPorts must be an object"},
      {[](json& j) {
         j["config"]["ExposedPorts"] = {{"80/tcp", 1}};
       },
       "ExposedPorts[\"80/tcp\"] must be an object"},
      {[](json& j) {
         j["config"]["ExposedPorts"] = {{"http", json::object()}};
       },
       "invalid port \"http\""},
      {[](json& j) {
         j["config"]["ExposedPorts"] = {{"70000/tcp", json::object()}};
       },
       "invalid port"},
      {[](json& j) {
         j["config"]["ExposedPorts"] = {{"80/icmp", json::object()}};
       },
       "invalid protocol"},
      {[](json& j) {
         j["config"]["Volumes"] = {{"", json::object()}};
       },
       "Volumes has an empty key"},
      {[](json& j) {
         j["config"]["Labels"] = {{"a", 1}};
       },
       "config.Labels[\"a\"] must be a string"},
      {[](json& j) { j["config"]["Labels"] = "a=b"; }, "config.Labels must be an object"},
  };
  for (const auto& c : cases) {
    json j = sample();
    c.edit(j);
    try {
      (void)parse_image_config(j.dump());
      ADD_FAILURE() << "accepted, expected: " << c.reason;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_THAT(e.what(), HasSubstr("image config"));
      EXPECT_THAT(e.what(), HasSubstr(c.reason));
    }
  }
}

TEST(ImageConfig, RejectsNonObjectsAndBadJson) {
  for (const char* body : {"", "[]", "null", "\"x\"", "{\"rootfs\":", "{} trailing"}) {
    try {
      (void)parse_image_config(body);
      ADD_FAILURE() << "accepted " << body;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_THAT(e.what(), HasSubstr("image config"));
    }
  }
}

}  // namespace
}  // namespace bocker::registry
