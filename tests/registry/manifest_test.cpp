#include "bocker/registry/manifest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string dg(char c) { return "sha256:" + std::string(64, c); }

json layer(std::string_view mt, char c = 'b', std::int64_t size = 100) {
  return {{"mediaType", mt}, {"digest", dg(c)}, {"size", size}};
}

json docker_manifest() {
  return {{"schemaVersion", 2},
          {"mediaType", media::kDockerManifest},
          {"config", {{"mediaType", media::kDockerConfig}, {"digest", dg('a')}, {"size", 1469}}},
          {"layers", json::array({layer(media::kDockerLayerGzip, 'b', 2814446)})}};
}

json oci_manifest() {
  return {{"schemaVersion", 2},
          {"mediaType", media::kOciManifest},
          {"config", {{"mediaType", media::kOciConfig}, {"digest", dg('a')}, {"size", 10}}},
          {"layers", json::array({layer(media::kOciLayerGzip, 'b'), layer(media::kOciLayerZstd, 'c'),
                                  layer(media::kOciLayer, 'd')})}};
}

json entry(std::string os, std::string arch, std::string variant, char c) {
  json p = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) p["variant"] = variant;
  return {{"mediaType", media::kOciManifest}, {"digest", dg(c)}, {"size", 500}, {"platform", p}};
}

json oci_index() {
  return {{"schemaVersion", 2},
          {"mediaType", media::kOciIndex},
          {"manifests", json::array({entry("linux", "amd64", "", '1'), entry("linux", "arm", "v7", '2'),
                                     entry("linux", "arm64", "v8", '3'), entry("unknown", "unknown", "", '4'),
                                     entry("windows", "amd64", "", '5')})}};
}

Manifest as_manifest(const json& j, std::string_view ct = "") {
  auto v = parse_manifest(j.dump(), ct);
  EXPECT_TRUE(std::holds_alternative<Manifest>(v));
  return std::get<Manifest>(v);
}

Index as_index(const json& j, std::string_view ct = "") {
  auto v = parse_manifest(j.dump(), ct);
  EXPECT_TRUE(std::holds_alternative<Index>(v));
  return std::get<Index>(v);
}

// Parsing fails with `kind` and a message containing `reason`.
void expect_error(const std::string& body, std::string_view ct, Error::Kind kind, const std::string& reason) {
  try {
    (void)parse_manifest(body, ct);
    ADD_FAILURE() << "accepted: " << body.substr(0, 300);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(reason));
  }
}
void expect_invalid(const json& j, const std::string& reason, std::string_view ct = "") {
  expect_error(j.dump(), ct, Error::Kind::kInvalid, reason);
}

TEST(Manifest, DockerSchema2) {
  Manifest m = as_manifest(docker_manifest(), media::kDockerManifest);
  EXPECT_EQ(m.media_type, media::kDockerManifest);
  EXPECT_EQ(m.config.media_type, media::kDockerConfig);
  EXPECT_EQ(m.config.digest, dg('a'));
  EXPECT_EQ(m.config.size, 1469);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 2814446);
  EXPECT_EQ(layer_compression(m.layers[0].media_type), Compression::Gzip);
}

TEST(Manifest, OciWithCompressions) {
  Manifest m = as_manifest(oci_manifest());
  EXPECT_EQ(m.media_type, media::kOciManifest);
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(layer_compression(m.layers[0].media_type), Compression::Gzip);
  EXPECT_EQ(layer_compression(m.layers[1].media_type), Compression::Zstd);
  EXPECT_EQ(layer_compression(m.layers[2].media_type), Compression::None);
}

TEST(Manifest, AllSupportedLayerTypes) {
  json j = oci_manifest();
  j["layers"] = json::array({layer(media::kDockerLayerGzip), layer(media::kDockerForeignLayerGzip),
                             layer(media::kOciLayer), layer(media::kOciLayerGzip),
                             layer(media::kOciLayerZstd), layer(media::kOciLayerNondist),
                             layer(media::kOciLayerNondistGzip), layer(media::kOciLayerNondistZstd)});
  j["layers"][1]["urls"] = {"https://example.com/layer"};
  Manifest m = as_manifest(j);
  ASSERT_EQ(m.layers.size(), 8u);
  EXPECT_EQ(m.layers[1].urls, std::vector<std::string>{"https://example.com/layer"});
  EXPECT_EQ(layer_compression(media::kOciLayerNondist), Compression::None);
  EXPECT_EQ(layer_compression(media::kOciLayerNondistZstd), Compression::Zstd);
  EXPECT_EQ(layer_compression(media::kDockerForeignLayerGzip), Compression::Gzip);
  EXPECT_EQ(layer_compression(media::kDockerLayerTar), Compression::None);
  EXPECT_EQ(layer_compression(media::kDockerLayerZstd), Compression::Zstd);
  EXPECT_THROW((void)layer_compression("application/x-tar"), Error);
}

TEST(Manifest, MediaTypeFromHeaderWhenDocumentHasNone) {
  json j = oci_manifest();
  j.erase("mediaType");
  EXPECT_EQ(as_manifest(j, "application/vnd.oci.image.manifest.v1+json; charset=utf-8").media_type,
            media::kOciManifest);
  json d = docker_manifest();
  d.erase("mediaType");
  EXPECT_EQ(as_manifest(d, media::kDockerManifest).media_type, media::kDockerManifest);
}

TEST(Manifest, DocumentMediaTypeWinsOverHeader) {
  EXPECT_EQ(as_manifest(docker_manifest(), media::kOciManifest).media_type, media::kDockerManifest);
  EXPECT_EQ(as_index(oci_index(), media::kDockerManifest).manifests.size(), 5u);
}

TEST(Manifest, ShapeDecidesWithoutAnyMediaType) {
  json m = oci_manifest();
  m.erase("mediaType");
  EXPECT_EQ(as_manifest(m, "application/octet-stream").media_type, media::kOciManifest);
  json i = oci_index();
  i.erase("mediaType");
  EXPECT_EQ(as_index(i).media_type, media::kOciIndex);
  expect_invalid({{"schemaVersion", 2}}, "cannot tell the document type");
}

TEST(Manifest, EmptyLayersAllowed) {
  json j = oci_manifest();
  j["layers"] = json::array();
  EXPECT_TRUE(as_manifest(j).layers.empty());
}

TEST(Manifest, RejectsSchema1) {
  json s1 = {{"schemaVersion", 1}, {"name", "x"}, {"tag", "latest"}, {"fsLayers", json::array()}};
  expect_error(s1.dump(), media::kDockerSchema1Signed, Error::Kind::kUnsupported,
               "schema 1 is not supported");
  expect_error(s1.dump(), "", Error::Kind::kUnsupported, "schema 1");
  json j = docker_manifest();
  j["mediaType"] = media::kDockerSchema1;
  expect_error(j.dump(), "", Error::Kind::kUnsupported, "schema 1");
}

TEST(Manifest, RejectsAmbiguousDocuments) {
  json i = oci_index();
  i["layers"] = json::array();
  expect_invalid(i, "ambiguous");
  json i2 = oci_index();
  i2["config"] = oci_manifest()["config"];
  expect_invalid(i2, "ambiguous");
  json m = oci_manifest();
  m["manifests"] = json::array();
  expect_invalid(m, "ambiguous");
  json both = oci_manifest();
  both.erase("mediaType");
  both["manifests"] = json::array();
  expect_invalid(both, "ambiguous");
}

TEST(Manifest, RejectsTooLarge) {
  std::string body = docker_manifest().dump();
  body.append(kMaxManifestBytes, ' ');
  expect_error(body, media::kDockerManifest, Error::Kind::kInvalid, "too large");
}

TEST(Manifest, RejectsMalformedJson) {
  expect_error("", "", Error::Kind::kInvalid, "invalid JSON");
  expect_error("{", "", Error::Kind::kInvalid, "invalid JSON");
  expect_error("[]", "", Error::Kind::kInvalid, "must be a JSON object");
  expect_error(std::string(1000, '[') + std::string(1000, ']'), "", Error::Kind::kInvalid, "nested deeper");
}

TEST(Manifest, RejectsBadSchemaVersion) {
  json j = docker_manifest();
  j.erase("schemaVersion");
  expect_invalid(j, "schemaVersion\" is missing");
  j["schemaVersion"] = 3;
  expect_invalid(j, "unsupported schemaVersion 3");
  j["schemaVersion"] = "2";
  expect_invalid(j, "schemaVersion must be an integer");
}

TEST(Manifest, RejectsBadDescriptors) {
  struct Case {
    std::function<void(json&)> edit;
    const char* reason;
  };
  std::vector<Case> cases = {
      {[](json& j) { j["layers"][0].erase("digest"); }, "layers[0].digest is missing"},
      {[](json& j) { j["layers"][0]["digest"] = "sha256:abc"; }, "invalid checksum digest length"},
      {[](json& j) { j["layers"][0]["digest"] = 5; }, "layers[0].digest must be a string"},
      {[](json& j) { j["config"]["digest"] = dg('A'); }, "config.digest: invalid digest"},
      {[](json& j) { j["layers"][0].erase("size"); }, "layers[0].size is missing"},
      {[](json& j) { j["layers"][0]["size"] = -1; }, "must not be negative"},
      {[](json& j) { j["layers"][0]["size"] = 1.5; }, "must be an integer"},
      {[](json& j) { j["layers"][0]["size"] = "10"; }, "must be an integer"},
      {[](json& j) { j["layers"][0]["size"] = 18446744073709551615ULL; }, "too large"},
      {[](json& j) { j["layers"][0].erase("mediaType"); }, "layers[0].mediaType is missing"},
      {[](json& j) { j["layers"][0]["mediaType"] = "nonsense"; }, "not a valid media type"},
      {[](json& j) { j["layers"][0]["urls"] = "x"; }, "urls must be an array"},
      {[](json& j) { j["layers"][0]["urls"] = {1}; }, "urls[0] must be a string"},
      {[](json& j) { j["layers"] = json::object(); }, "\"layers\" must be an array"},
      {[](json& j) { j.erase("layers"); }, "\"layers\" is missing"},
      {[](json& j) { j.erase("config"); }, "\"config\" is missing"},
      {[](json& j) { j["config"] = "x"; }, "config must be an object"},
      {[](json& j) { j["layers"][0] = 3; }, "layers[0] must be an object"},
      {[](json& j) { j["mediaType"] = 7; }, "mediaType must be a string"},
  };
  for (const auto& c : cases) {
    json j = docker_manifest();
    c.edit(j);
    expect_invalid(j, c.reason);
  }
}

TEST(Manifest, RejectsUnsupportedTypes) {
  json j = oci_manifest();
  j["layers"][1]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.bzip2";
  expect_error(j.dump(), "", Error::Kind::kUnsupported, "layers[1]: unsupported layer media type");
  json a = oci_manifest();
  a["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json";
  expect_error(a.dump(), "", Error::Kind::kUnsupported, "not a container image config");
  json u = oci_manifest();
  u["mediaType"] = "application/vnd.example+json";
  expect_error(u.dump(), "", Error::Kind::kUnsupported, "unsupported manifest media type");
}

TEST(Index, ParsesEntriesAndPlatforms) {
  Index idx = as_index(oci_index());
  ASSERT_EQ(idx.manifests.size(), 5u);
  ASSERT_TRUE(idx.manifests[1].platform.has_value());
  EXPECT_EQ(idx.manifests[1].platform->architecture, "arm");
  EXPECT_EQ(idx.manifests[1].platform->variant, "v7");
  EXPECT_EQ(idx.manifests[1].size, 500);
}

TEST(Index, DockerManifestList) {
  json j = oci_index();
  j["mediaType"] = media::kDockerManifestList;
  for (auto& e : j["manifests"]) e["mediaType"] = media::kDockerManifest;
  Index idx = as_index(j);
  EXPECT_EQ(idx.media_type, media::kDockerManifestList);
  EXPECT_EQ(choose_platform(idx, Platform{"linux", "arm64", ""}).digest, dg('3'));
}

TEST(Index, RejectsBadEntries) {
  json j = oci_index();
  j["manifests"][2]["platform"].erase("os");
  expect_invalid(j, "manifests[2].platform.os is missing");
  json k = oci_index();
  k["manifests"][0]["platform"]["architecture"] = 1;
  expect_invalid(k, "platform.architecture must be a string");
  json m = oci_index();
  m["manifests"] = json::object();
  expect_invalid(m, "\"manifests\" must be an array");
  json n = oci_index();
  n["manifests"][0]["digest"] = "sha256:zz";
  expect_invalid(n, "manifests[0].digest");
}

TEST(Platform, ParseAndNormalize) {
  EXPECT_EQ(parse_platform("linux/arm64/v8"), (Platform{"linux", "arm64", "v8"}));
  EXPECT_EQ(parse_platform("linux/arm64/8"), (Platform{"linux", "arm64", "v8"}));
  EXPECT_EQ(parse_platform("linux/amd64"), (Platform{"linux", "amd64", ""}));
  EXPECT_EQ(parse_platform("Linux/x86_64"), (Platform{"linux", "amd64", ""}));
  EXPECT_EQ(parse_platform("linux/aarch64"), (Platform{"linux", "arm64", ""}));
  EXPECT_EQ(parse_platform("linux/armhf"), (Platform{"linux", "arm", "v7"}));
  EXPECT_EQ(parse_platform("arm64"), (Platform{"linux", "arm64", ""}));
  EXPECT_EQ(parse_platform("linux").os, "linux");
  EXPECT_EQ(parse_platform("linux").architecture, default_platform().architecture);
  EXPECT_EQ(parse_platform("linux/arm/v7").str(), "linux/arm/v7");
  for (const char* bad : {"", "/", "linux/", "linux//v8", "a/b/c/d", "linux/am d64", "linux/a$"}) {
    try {
      (void)parse_platform(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_THAT(e.what(), HasSubstr("invalid platform"));
    }
  }
}

TEST(Platform, Matching) {
  EXPECT_TRUE(platform_matches({"linux", "amd64", ""}, {"linux", "amd64", ""}));
  EXPECT_TRUE(platform_matches({"linux", "amd64", ""}, {"linux", "amd64", "v1"}));
  EXPECT_TRUE(platform_matches({"linux", "arm64", ""}, {"linux", "arm64", "v8"}));
  EXPECT_TRUE(platform_matches({"linux", "arm64", "v8"}, {"linux", "arm64", ""}));
  EXPECT_TRUE(platform_matches({"linux", "arm", ""}, {"linux", "arm", "v7"}));
  EXPECT_TRUE(platform_matches({"linux", "x86_64", ""}, {"linux", "amd64", ""}));
  EXPECT_FALSE(platform_matches({"linux", "arm", "v6"}, {"linux", "arm", "v7"}));
  EXPECT_FALSE(platform_matches({"linux", "amd64", ""}, {"windows", "amd64", ""}));
  EXPECT_FALSE(platform_matches({"linux", "amd64", ""}, {"linux", "arm64", ""}));
  EXPECT_TRUE(platform_matches({"linux", "riscv64", ""}, {"linux", "riscv64", "rva22"}));
}

TEST(Index, ChoosePlatform) {
  Index idx = as_index(oci_index());
  EXPECT_EQ(choose_platform(idx, {"linux", "amd64", ""}).digest, dg('1'));
  EXPECT_EQ(choose_platform(idx, parse_platform("linux/arm64")).digest, dg('3'));
  EXPECT_EQ(choose_platform(idx, parse_platform("linux/arm64/v8")).digest, dg('3'));
  EXPECT_EQ(choose_platform(idx, parse_platform("linux/arm/v7")).digest, dg('2'));
  EXPECT_EQ(choose_platform(idx, parse_platform("windows/amd64")).digest, dg('5'));
  EXPECT_EQ(choose_platform(idx).digest, choose_platform(idx, default_platform()).digest);
}

TEST(Index, ChoosePlatformNotFound) {
  Index idx = as_index(oci_index());
  try {
    (void)choose_platform(idx, parse_platform("linux/s390x"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
    EXPECT_STREQ(e.what(), "no matching manifest for linux/s390x in the manifest list entries");
  }
  EXPECT_THROW((void)choose_platform(idx, parse_platform("linux/arm/v6")), Error);
}

TEST(Index, ChoosePlatformSkipsNonManifestsAndPrefersExactVariant) {
  json j = oci_index();
  j["manifests"] = json::array({entry("linux", "amd64", "", '1'), entry("linux", "arm64", "v9", '2'),
                                entry("linux", "arm64", "v8", '3')});
  j["manifests"][0]["mediaType"] = media::kOciIndex;  // nested index is not picked
  Index idx = as_index(j);
  EXPECT_THROW((void)choose_platform(idx, {"linux", "amd64", ""}), Error);
  EXPECT_EQ(choose_platform(idx, {"linux", "arm64", ""}).digest, dg('3'));
  EXPECT_EQ(choose_platform(idx, {"linux", "arm64", "v9"}).digest, dg('2'));
}

TEST(Index, EntryWithoutPlatformIsALastResort) {
  json j = oci_index();
  j["manifests"] = json::array({entry("linux", "arm64", "", '1'), entry("linux", "amd64", "", '2')});
  j["manifests"][0].erase("platform");
  Index idx = as_index(j);
  EXPECT_EQ(choose_platform(idx, {"linux", "amd64", ""}).digest, dg('2'));
  EXPECT_EQ(choose_platform(idx, {"linux", "s390x", ""}).digest, dg('1'));
}

}  // namespace
}  // namespace bocker::registry
