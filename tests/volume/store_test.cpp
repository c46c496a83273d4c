// The volume store on a temporary directory: names, idempotent create, metadata on disk,
// reload, in-use refusal, removal, anonymous volumes, filters and the Service's prune.
#include "bocker/volume/store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/volume/service.hpp"

namespace bocker::volume {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("bocker-volume-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root() const { return root_.string(); }
  fs::path root_;
};

TEST(VolumeNames, DockerRule) {
  EXPECT_TRUE(valid_name("ab"));
  EXPECT_TRUE(valid_name("my_vol.1-2"));
  EXPECT_TRUE(valid_name("0abc"));
  EXPECT_FALSE(valid_name("a")) << "Docker's regex needs two characters";
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("-ab"));
  EXPECT_FALSE(valid_name(".ab"));
  EXPECT_FALSE(valid_name("a/b"));
  EXPECT_FALSE(valid_name("a b"));
  EXPECT_FALSE(valid_name("../etc"));
  EXPECT_FALSE(valid_name(std::string(256, 'a')));
  try {
    check_name("bad/name");
    FAIL() << "expected invalid";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_THAT(e.what(), HasSubstr("includes invalid characters for a local volume name"));
  }
  std::string r = random_name();
  EXPECT_EQ(r.size(), 64u);
  EXPECT_EQ(r.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(r, random_name());
}

TEST_F(StoreTest, CreateIsIdempotentAndWritesMetadata) {
  Store s(root());
  auto c = s.create("data", {{"a", "b"}});
  EXPECT_TRUE(c.created);
  EXPECT_EQ(c.volume.name, "data");
  EXPECT_EQ(c.volume.mountpoint, root() + "/volumes/data/_data");
  EXPECT_TRUE(fs::is_directory(c.volume.mountpoint));
  json meta = json::parse(std::ifstream(root() + "/volumes/data/meta.json"));
  EXPECT_EQ(meta["Name"], "data");
  EXPECT_EQ(meta["Driver"], "local");
  EXPECT_EQ(meta["Scope"], "local");
  EXPECT_EQ(meta["Mountpoint"], c.volume.mountpoint);
  EXPECT_EQ(meta["Labels"]["a"], "b");
  EXPECT_FALSE(meta["CreatedAt"].get<std::string>().empty());

  std::ofstream(c.volume.mountpoint + "/keep") << "x";
  auto again = s.create("data");
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.volume.labels.at("a"), "b");
  EXPECT_TRUE(fs::exists(c.volume.mountpoint + "/keep")) << "a second create must not touch the data";

  json api = c.volume.to_api();
  for (const char* k : {"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Options", "Scope"}) {
    EXPECT_TRUE(api.contains(k)) << k;
  }
}

TEST_F(StoreTest, BadInputChangesNothing) {
  Store s(root());
  EXPECT_THROW(s.create("a"), Error);
  EXPECT_THROW(s.create("../escape"), Error);
  EXPECT_THROW(s.create("ok", {}, {}, "nfs-plugin"), Error);
  EXPECT_THROW(s.create("ok", {}, {{"type", "nfs"}}), Error);
  EXPECT_TRUE(fs::is_empty(root() + "/volumes"));
  EXPECT_TRUE(s.list().empty());
  EXPECT_FALSE(fs::exists(root() + "/escape"));
}

TEST_F(StoreTest, ReloadKeepsVolumesAndDropsHalfCreatedOnes) {
  {
    Store s(root());
    s.create("one", {{"k", "v"}});
    s.create_anonymous();
  }
  fs::create_directories(root() + "/volumes/halfmade/_data");      // crash before meta.json
  fs::create_directories(root() + "/volumes/.rm-gone/_data/sub");  // crash during removal
  Store s(root());
  auto vs = s.list();
  ASSERT_EQ(vs.size(), 2u);
  auto one = s.get("one");
  EXPECT_EQ(one.labels.at("k"), "v");
  int anon = 0;
  for (const auto& v : vs) anon += v.anonymous() ? 1 : 0;
  EXPECT_EQ(anon, 1);
  EXPECT_FALSE(fs::exists(root() + "/volumes/halfmade"));
  EXPECT_FALSE(fs::exists(root() + "/volumes/.rm-gone"));
}

TEST_F(StoreTest, RemoveRefusesAVolumeInUse) {
  Store s(root());
  s.create("busy");
  std::ofstream(s.path("busy") + "/f") << "data";
  try {
    s.remove("busy", false, {"abc123", "def456"});
    FAIL() << "expected a conflict";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kConflict);
    EXPECT_STREQ(e.what(), "remove busy: volume is in use - [abc123, def456]");
  }
  EXPECT_THROW(s.remove("busy", true, {"abc123"}), Error) << "force does not remove a volume in use";
  EXPECT_TRUE(fs::exists(s.path("busy") + "/f"));
  s.remove("busy", false, {});
  EXPECT_FALSE(s.find("busy"));
  EXPECT_FALSE(fs::exists(root() + "/volumes/busy"));
  try {
    s.remove("busy", false, {});
    FAIL() << "expected not found";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
    EXPECT_STREQ(e.what(), "get busy: no such volume");
  }
  EXPECT_NO_THROW(s.remove("busy", true, {}));
  EXPECT_THROW(s.get("busy"), Error);
}

TEST(VolumeFilters, NameLabelDriverDangling) {
  Volume v;
  v.name = "project_data";
  v.labels = {{"env", "prod"}, {"flag", ""}};
  EXPECT_TRUE(matches(v, nullptr, false));
  EXPECT_TRUE(matches(v, json{{"name", {"data"}}}, false));
  EXPECT_FALSE(matches(v, json{{"name", {"other"}}}, false));
  EXPECT_TRUE(matches(v, json{{"label", {"env=prod"}}}, false));
  EXPECT_TRUE(matches(v, json{{"label", {"flag"}}}, false));
  EXPECT_FALSE(matches(v, json{{"label", {"env=dev"}}}, false));
  EXPECT_TRUE(matches(v, json{{"driver", {"local"}}}, false));
  EXPECT_TRUE(matches(v, json{{"dangling", {"true"}}}, false));
  EXPECT_FALSE(matches(v, json{{"dangling", {"true"}}}, true));
  EXPECT_TRUE(matches(v, json{{"dangling", {{"false", true}}}}, true)) << "the old map form";
  EXPECT_THROW(matches(v, json{{"bogus", {"x"}}}, false), Error);
  EXPECT_THROW(matches(v, json{{"dangling", {"maybe"}}}, false), Error);
}

template <typename T>
T run_task(rt::Task<T> t) {
  rt::Loop loop;
  return loop.run(std::move(t));
}

TEST_F(StoreTest, ServicePrunesUnusedAnonymousVolumes) {
  Store s(root());
  s.create("named");
  auto a1 = s.create_anonymous();
  auto a2 = s.create_anonymous();
  std::ofstream(s.path(a1.name) + "/f") << "12345";
  Service svc(s, [&a2](const std::string& n) {
    return n == a2.name ? std::vector<std::string>{"c1"} : std::vector<std::string>{};
  });
  json out = run_task(svc.prune(nullptr));
  EXPECT_EQ(out["VolumesDeleted"], json::array({a1.name}));
  EXPECT_EQ(out["SpaceReclaimed"], 5);
  EXPECT_TRUE(s.find("named"));
  EXPECT_TRUE(s.find(a2.name)) << "in use";
  json all = run_task(svc.prune(json{{"all", {"true"}}}));
  EXPECT_EQ(all["VolumesDeleted"], json::array({"named"}));
  json list = run_task(svc.list(nullptr));
  ASSERT_EQ(list["Volumes"].size(), 1u);
  EXPECT_EQ(list["Volumes"][0]["Name"], a2.name);
  EXPECT_TRUE(list["Warnings"].is_array());
}

}  // namespace
}  // namespace bocker::volume
