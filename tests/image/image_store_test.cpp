// Image store: records and tag index on disk, tag moves, resolution like Docker, removal returning
// unused chain ids, crash leftovers at open; chain ids and short/random ids.
#include "bocker/image/image_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "bocker/image/ids.hpp"
#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::image {
namespace {

namespace fs = std::filesystem;
using registry::sha256_digest;

std::string layer(int n) { return sha256_digest("layer " + std::to_string(n)); }

// An image whose config names `tag_seed` and whose layers are `layers`.
ImageRecord make_image(const std::string& seed, std::vector<int> layers, std::int64_t created = 1000) {
  ImageRecord r;
  r.config_json = R"({"architecture":"amd64","os":"linux","seed":")" + seed + R"("})";
  r.id = sha256_digest(r.config_json);
  for (int l : layers) r.diff_ids.push_back(layer(l));
  r.created = created;
  r.size = 42;
  return r;
}

Error::Kind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  return static_cast<Error::Kind>(-1);
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "bocker-images-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  ImageStore open() {
    return ImageStore(root_.string(), [this](const std::string& m) { warnings_.push_back(m); });
  }
  fs::path images_dir() const { return root_ / "images"; }
  nlohmann::json index_on_disk() const {
    return nlohmann::json::parse(read_file((images_dir() / "repositories.json").string()));
  }

  fs::path root_;
  std::vector<std::string> warnings_;
};

TEST(ChainIds, FollowTheOciDefinition) {
  std::vector<std::string> diff = {layer(1), layer(2), layer(3)};
  auto chains = chain_ids(diff);
  ASSERT_EQ(chains.size(), 3u);
  EXPECT_EQ(chains[0], diff[0]);
  EXPECT_EQ(chains[1], sha256_digest(diff[0] + " " + diff[1]));
  EXPECT_EQ(chains[2], sha256_digest(chains[1] + " " + diff[2]));
  EXPECT_EQ(chain_id(diff), chains[2]);
  EXPECT_EQ(chain_id({}), "");
  std::vector<std::string> bad = {layer(1), "sha256:XYZ"};
  EXPECT_EQ(kind_of([&] { chain_ids(bad); }), Error::Kind::kInvalid);
  // Known value: two layers whose diff ids are sha256("a") and sha256("b").
  std::vector<std::string> ab = {sha256_digest("a"), sha256_digest("b")};
  EXPECT_EQ(chain_id(ab),
            sha256_digest("sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb "
                          "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"));
}

TEST(Ids, ShortAndRandom) {
  EXPECT_EQ(short_id("sha256:4ff3ca91275d4ff3ca91275d4ff3ca91275d4ff3ca91275d4ff3ca91275d0000"),
            "4ff3ca91275d");
  EXPECT_EQ(short_id("abcdef"), "abcdef");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = random_id();
    EXPECT_TRUE(is_sha256_digest("sha256:" + id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(ImageStoreTest, PutGetListPersist) {
  ImageRecord a = make_image("a", {1, 2}, 2000);
  a.layer_digests = {sha256_digest("gz1"), sha256_digest("gz2")};
  a.repo_tags = {"alpine"};
  a.repo_digests = {"alpine@" + sha256_digest("manifest")};
  a.manifest_digest = sha256_digest("manifest");
  ImageRecord b = make_image("b", {1}, 3000);
  {
    ImageStore s = open();
    s.put(a);
    s.put(b);
    ImageRecord got = s.get(a.id);
    EXPECT_EQ(got.repo_tags, std::vector<std::string>{"docker.io/library/alpine:latest"});
    EXPECT_EQ(got.repo_digests,
              std::vector<std::string>{"docker.io/library/alpine@" + sha256_digest("manifest")});
    EXPECT_EQ(got.chain_ids, chain_ids(a.diff_ids));
    EXPECT_EQ(got.config_json, a.config_json);
    auto all = s.list();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].id, b.id);  // newest first
    EXPECT_EQ(kind_of([&] { s.get(sha256_digest("nope")); }), Error::Kind::kNotFound);
    EXPECT_FALSE(s.find(sha256_digest("nope")).has_value());
  }
  EXPECT_TRUE(fs::exists(images_dir() / (a.id.substr(7) + ".json")));
  EXPECT_EQ(index_on_disk(), (nlohmann::json{{"docker.io/library/alpine:latest", a.id}}));
  ImageStore s = open();
  EXPECT_EQ(s.count(), 2u);
  ImageRecord again = s.get(a.id);
  ImageRecord want = a;
  want.repo_tags = {"docker.io/library/alpine:latest"};
  want.repo_digests = {"docker.io/library/alpine@" + sha256_digest("manifest")};
  want.chain_ids = chain_ids(a.diff_ids);
  EXPECT_EQ(again, want);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ImageStoreTest, PutRejectsInconsistentRecordsAndWritesNothing) {
  ImageStore s = open();
  ImageRecord wrong_id = make_image("x", {1});
  wrong_id.id = sha256_digest("not the config");
  EXPECT_EQ(kind_of([&] { s.put(wrong_id); }), Error::Kind::kInvalid);
  ImageRecord bad_chain = make_image("y", {1, 2});
  bad_chain.chain_ids = {layer(1), layer(2)};
  EXPECT_EQ(kind_of([&] { s.put(bad_chain); }), Error::Kind::kInvalid);
  ImageRecord bad_diff = make_image("z", {1});
  bad_diff.diff_ids.push_back("sha256:../../etc");
  EXPECT_EQ(kind_of([&] { s.put(bad_diff); }), Error::Kind::kInvalid);
  ImageRecord bad_tag = make_image("w", {1});
  bad_tag.repo_tags = {"Busybox"};
  EXPECT_EQ(kind_of([&] { s.put(bad_tag); }), Error::Kind::kInvalid);
  ImageRecord layer_count = make_image("v", {1, 2});
  layer_count.layer_digests = {sha256_digest("only one")};
  EXPECT_EQ(kind_of([&] { s.put(layer_count); }), Error::Kind::kInvalid);
  EXPECT_EQ(s.count(), 0u);
  EXPECT_TRUE(fs::is_empty(images_dir()));
}

TEST_F(ImageStoreTest, TagMovesLeaveTheOldImageDangling) {
  ImageStore s = open();
  ImageRecord a = make_image("a", {1}), b = make_image("b", {2});
  a.repo_tags = {"alpine:3.19", "docker.io/library/alpine:latest"};
  s.put(a);
  s.put(b);
  EXPECT_EQ(s.tag(b.id, "alpine"), "docker.io/library/alpine:latest");
  EXPECT_EQ(s.get(a.id).repo_tags, std::vector<std::string>{"docker.io/library/alpine:3.19"});
  EXPECT_EQ(s.get(b.id).repo_tags, std::vector<std::string>{"docker.io/library/alpine:latest"});
  EXPECT_EQ(s.untag("alpine:3.19"), a.id);
  EXPECT_TRUE(s.get(a.id).repo_tags.empty());  // dangling, still listed
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(kind_of([&] { s.untag("alpine:3.19"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { s.tag(sha256_digest("nope"), "x"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { s.tag(b.id, "x@" + sha256_digest("m")); }), Error::Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { s.tag(b.id, "Bad Ref"); }), Error::Kind::kInvalid);
  EXPECT_EQ(s.tag(b.id, "localhost:5000/team/app:v1"), "localhost:5000/team/app:v1");
  EXPECT_EQ(index_on_disk(), (nlohmann::json{{"docker.io/library/alpine:latest", b.id},
                                             {"localhost:5000/team/app:v1", b.id}}));
  // Re-putting a with a tag moves it back; b keeps its other tag.
  a.repo_tags = {"alpine"};
  s.put(a);
  EXPECT_EQ(s.get(b.id).repo_tags, std::vector<std::string>{"localhost:5000/team/app:v1"});
  EXPECT_EQ(s.tags().at("docker.io/library/alpine:latest"), a.id);
}

TEST_F(ImageStoreTest, ResolveLikeDocker) {
  ImageStore s = open();
  ImageRecord a = make_image("a", {1});
  a.repo_tags = {"alpine"};
  a.repo_digests = {"alpine@" + sha256_digest("manifest a")};
  s.put(a);
  std::string hex = a.id.substr(7);
  EXPECT_EQ(s.resolve(a.id), a.id);
  EXPECT_EQ(s.resolve(hex), a.id);
  EXPECT_EQ(s.resolve(hex.substr(0, 12)), a.id);
  EXPECT_EQ(s.resolve(hex.substr(0, 1)), a.id);
  EXPECT_EQ(s.resolve("sha256:" + hex.substr(0, 5)), a.id);
  EXPECT_EQ(s.resolve("alpine"), a.id);
  EXPECT_EQ(s.resolve("alpine:latest"), a.id);
  EXPECT_EQ(s.resolve("docker.io/library/alpine:latest"), a.id);
  EXPECT_EQ(s.resolve("library/alpine"), a.id);
  EXPECT_EQ(s.resolve("alpine@" + sha256_digest("manifest a")), a.id);
  for (std::string missing :
       {std::string("alpine:3"), std::string("busybox"), "sha256:" + std::string(64, '0'),
        std::string(64, '0'), std::string("sha256:zz"), std::string("Not A Ref"), std::string("0000")}) {
    if (hex.starts_with(missing)) continue;
    EXPECT_EQ(kind_of([&] { s.resolve(missing); }), Error::Kind::kNotFound) << missing;
  }
  try {
    s.resolve("busybox");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "No such image: busybox");
  }
  EXPECT_EQ(kind_of([&] { s.resolve(""); }), Error::Kind::kInvalid);
}

TEST_F(ImageStoreTest, AmbiguousPrefixIsInvalidATagWins) {
  ImageStore s = open();
  // Two images whose ids share the first hex digit (found by trying seeds).
  std::map<char, ImageRecord> by_first;
  ImageRecord x, y;
  for (int i = 0;; ++i) {
    ImageRecord r = make_image("seed" + std::to_string(i), {1});
    auto [it, fresh] = by_first.emplace(r.id[7], r);
    if (!fresh) {
      x = it->second;
      y = r;
      break;
    }
  }
  s.put(x);
  s.put(y);
  std::string shared = x.id.substr(7, 1);
  try {
    s.resolve(shared);
    FAIL() << "ambiguous prefix resolved";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_EQ(std::string(e.what()), "multiple IDs found with provided prefix: " + shared);
  }
  EXPECT_EQ(kind_of([&] { s.resolve("sha256:" + shared); }), Error::Kind::kInvalid);
  EXPECT_EQ(s.resolve(x.id.substr(7, 64)), x.id);
  // A repository named like a hex prefix is found through the tag index first, as in Docker.
  s.tag(y.id, shared);
  EXPECT_EQ(s.resolve(shared), y.id);
}

TEST_F(ImageStoreTest, RemoveReturnsChainIdsNoOtherImageUses) {
  ImageStore s = open();
  ImageRecord a = make_image("a", {1, 2}), b = make_image("b", {1, 3}), c = make_image("c", {1, 2, 4});
  a.repo_tags = {"a", "a:v2"};
  s.put(a);
  s.put(b);
  s.put(c);
  auto ca = chain_ids(a.diff_ids), cb = chain_ids(b.diff_ids);
  // a's chain (1,2) is still used by c; (1) by b and c.
  EXPECT_TRUE(s.remove(a.id).empty());
  EXPECT_TRUE(s.tags().empty());
  EXPECT_FALSE(fs::exists(images_dir() / (a.id.substr(7) + ".json")));
  EXPECT_EQ(s.remove(c.id), (std::vector<std::string>{ca[1], chain_ids(c.diff_ids)[2]}));
  EXPECT_EQ(s.remove(b.id), (std::vector<std::string>{cb[0], cb[1]}));
  EXPECT_EQ(kind_of([&] { s.remove(b.id); }), Error::Kind::kNotFound);
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(open().count(), 0u);
}

TEST_F(ImageStoreTest, OpenSurvivesCrashLeftovers) {
  ImageRecord a = make_image("a", {1}), b = make_image("b", {2}), c = make_image("c", {3});
  a.repo_tags = {"a"};
  {
    ImageStore s = open();
    s.put(a);
    s.put(b);
    s.put(c);
  }
  // A temp file from an interrupted atomic write, a record written before its tag index update
  // (d: never tagged), a corrupt record, a record whose id does not match its name, and index
  // entries naming a missing image or a non-canonical ref.
  { std::ofstream(images_dir() / (a.id.substr(7) + ".json.tmp-99")) << "{half"; }
  { std::ofstream(images_dir() / "repositories.json.tmp-7") << "{"; }
  ImageRecord d = make_image("d", {4});
  {
    nlohmann::json j{{"id", d.id},
                     {"config", d.config_json},
                     {"diff_ids", d.diff_ids},
                     {"chain_ids", d.diff_ids},
                     {"created", 5},
                     {"size", 1}};
    std::ofstream(images_dir() / (d.id.substr(7) + ".json")) << j.dump();
  }
  { std::ofstream(images_dir() / (b.id.substr(7) + ".json"), std::ios::trunc) << "{\"id\": 12"; }
  fs::copy_file(images_dir() / (c.id.substr(7) + ".json"), images_dir() / (std::string(64, 'e') + ".json"));
  {
    nlohmann::json idx = index_on_disk();
    idx["docker.io/library/gone:latest"] = sha256_digest("gone");
    idx["alpine"] = a.id;
    std::ofstream(images_dir() / "repositories.json", std::ios::trunc) << idx.dump();
  }

  ImageStore s = open();
  std::set<std::string> ids;
  for (const auto& r : s.list()) ids.insert(r.id);
  EXPECT_EQ(ids, (std::set<std::string>{a.id, c.id, d.id}));
  EXPECT_TRUE(s.get(d.id).repo_tags.empty());  // dangling
  EXPECT_EQ(s.tags(), (std::map<std::string, std::string>{{"docker.io/library/a:latest", a.id}}));
  EXPECT_FALSE(fs::exists(images_dir() / (a.id.substr(7) + ".json.tmp-99")));
  EXPECT_FALSE(fs::exists(images_dir() / "repositories.json.tmp-7"));
  EXPECT_EQ(index_on_disk(), (nlohmann::json{{"docker.io/library/a:latest", a.id}}));  // rewritten clean
  std::string all;
  for (const auto& w : warnings_) all += w + "\n";
  EXPECT_NE(all.find("skipping corrupt image record " + (images_dir() / (b.id.substr(7) + ".json")).string()),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("does not match the file name"), std::string::npos) << all;
  EXPECT_NE(all.find("dropping tag docker.io/library/gone:latest"), std::string::npos) << all;
  EXPECT_NE(all.find("dropping tag alpine"), std::string::npos) << all;
}

TEST_F(ImageStoreTest, CorruptTagIndexIsMovedAsideNotFatal) {
  ImageRecord a = make_image("a", {1});
  a.repo_tags = {"a"};
  {
    ImageStore s = open();
    s.put(a);
  }
  { std::ofstream(images_dir() / "repositories.json", std::ios::trunc) << "not json"; }
  ImageStore s = open();
  EXPECT_EQ(s.count(), 1u);
  EXPECT_TRUE(s.tags().empty());
  EXPECT_TRUE(fs::exists(images_dir() / "repositories.json.corrupt"));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("is corrupt"), std::string::npos);
  s.tag(a.id, "a");
  EXPECT_EQ(open().resolve("a"), a.id);
}

}  // namespace
}  // namespace bocker::image
