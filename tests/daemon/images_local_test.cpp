// Images without a registry and with the docker CLI: `bocker init` of a directory, `bocker
// import` of a tarball, tags, short ids and rmi rules; then `docker pull/images/inspect/rmi`
// against bockerd with the layers freed in storage. On overlay2 and btrfs.
#include <set>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using ::testing::HasSubstr;
using registry::testing::RegistryServer;

class LocalImagesTest : public ::testing::TestWithParam<Storage> {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << "no " << kAlpineTarball;
    root_ = std::make_unique<TestRoot>(GetParam());
    daemon_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/bocker.sock", root_->dir() + "/bockerd.log",
                                              std::vector<std::string>{"--storage-driver", root_->driver()});
    std::string err = daemon_->start();
    ASSERT_EQ(err, "");
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "bockerd log:\n" << daemon_->log();
    daemon_.reset();
    root_.reset();
  }
  CmdResult bocker(const std::string& args) const { return run(daemon_->bocker(args)); }
  std::string id_of(const std::string& name) const {
    auto j = inspect_json(*daemon_, name);
    return j.is_object() ? j["Id"].get<std::string>() : std::string();
  }
  // Layer dirs in storage (committed or not).
  std::size_t layer_count() const {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_->layers_dir(), ec); !ec && it != fs::directory_iterator(); ++it) ++n;
    return n;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_P(LocalImagesTest, InitImportTagRmi) {
  // init: a directory the test extracted.
  std::string tree = root_->dir() + "/alpine-tree";
  fs::create_directories(tree);
  auto x = run("tar -xzf " + kAlpineTarball + " -C " + tree);
  ASSERT_EQ(x.status, 0) << x.out;
  auto r = bocker("init " + tree + " alpine-init:1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string init_id = id_of("alpine-init:1");
  ASSERT_EQ(init_id.size(), 71U) << r.out;
  auto j = inspect_json(*daemon_, "alpine-init:1");
  ASSERT_EQ(j["RootFS"]["Layers"].size(), 1U);
  std::string layer = root_->layer_tree(j["RootFS"]["Layers"][0].get<std::string>().substr(7));
  EXPECT_THAT(read_file(layer + "/etc/alpine-release"), HasSubstr("3.20.3"));
  EXPECT_TRUE(fs::is_symlink(layer + "/bin/sh"));

  // import: the tarball itself.
  r = bocker("import " + kAlpineTarball + " alpine-imp:1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string imp_id = id_of("alpine-imp:1");
  ASSERT_EQ(imp_id.size(), 71U) << r.out;
  EXPECT_NE(imp_id, init_id);
  j = inspect_json(*daemon_, "alpine-imp:1");
  std::string imp_diff = j["RootFS"]["Layers"][0];
  EXPECT_EQ(imp_diff, run("gzip -dc " + kAlpineTarball + " | sha256sum | sed 's/ .*//; s/^/sha256:/'").out.substr(0, 71));
  EXPECT_THAT(read_file(root_->layer_tree(imp_diff.substr(7)) + "/etc/alpine-release"), HasSubstr("3.20.3"));

  // A second import of a different tree: a different id, each found by a short prefix.
  std::string other = root_->dir() + "/other.tar";
  ASSERT_EQ(run("tar -cf " + other + " -C " + tree + " etc").status, 0);
  r = bocker("import " + other + " other:1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string other_id = id_of("other:1");
  std::set<std::string> ids = {init_id, imp_id, other_id};
  EXPECT_EQ(ids.size(), 3U) << "id collision";
  for (const auto& id : ids) {
    std::size_t n = 4;
    while (n < 64) {  // the shortest prefix that is unique among the three
      bool unique = true;
      for (const auto& o : ids) unique = unique && (o == id || o.compare(7, n, id, 7, n) != 0);
      if (unique) break;
      ++n;
    }
    EXPECT_EQ(id_of(id.substr(7, n)), id) << id.substr(7, n);
    EXPECT_EQ(id_of(id.substr(7, 12)), id);
  }
  auto images = bocker("images");
  for (const char* name : {"alpine-init", "alpine-imp", "other"}) EXPECT_THAT(images.out, HasSubstr(name));

  // Two tags: rmi by id is refused (409), by tag only untags; -f by id removes it all.
  r = bocker("tag alpine-imp:1 alpine-imp:2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(id_of("alpine-imp:2"), imp_id);
  r = bocker("rmi " + imp_id.substr(7, 12));
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("must be forced"));
  EXPECT_THAT(r.out, HasSubstr("referenced in multiple repositories"));
  auto api = run(daemon_->curl("DELETE", "/images/" + imp_id.substr(7, 12)));
  EXPECT_THAT(api.out, HasSubstr("HTTP 409")) << api.out;
  EXPECT_EQ(id_of("alpine-imp:1"), imp_id);
  EXPECT_EQ(id_of("alpine-imp:2"), imp_id);

  std::size_t layers_before = layer_count();
  r = bocker("rmi -f " + imp_id.substr(7, 12));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Untagged: alpine-imp:1"));
  EXPECT_THAT(r.out, HasSubstr("Untagged: alpine-imp:2"));
  EXPECT_THAT(r.out, HasSubstr("Deleted: " + imp_id));
  EXPECT_EQ(id_of(imp_id), "");
  EXPECT_EQ(layer_count(), layers_before - 1) << "the imported layer is freed";
  EXPECT_FALSE(fs::exists(root_->layers_dir() + "/" + imp_diff.substr(7)));
  // The others are untouched.
  EXPECT_EQ(id_of("alpine-init:1"), init_id);
  EXPECT_EQ(id_of("other:1"), other_id);

  // Unknown names.
  r = bocker("rmi nosuchimage:7");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("No such image"));
  r = bocker("image inspect deadbeef0000");
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("No such image"));
}

TEST_P(LocalImagesTest, ImportOfGarbageChangesNothing) {
  auto before = store_listing(root_->root());
  std::string junk = root_->dir() + "/junk.tar.gz";
  storage::test::write_text(junk, std::string("\x1f\x8b\x08\x00", 4) + registry::testing::random_bytes(5000, 2));
  auto r = bocker("import " + junk + " junk:1");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_EQ(store_listing(root_->root()), before) << r.out;
  std::string escape = root_->dir() + "/escape.tar";
  storage::test::write_text(escape, layer_tar({storage::test::file("../escaped-file", "x")}));
  r = bocker("import " + escape + " escape:1");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("../escaped-file"));
  EXPECT_EQ(store_listing(root_->root()), before) << r.out;
  EXPECT_FALSE(fs::exists(root_->layers_dir() + "/escaped-file"));
}

TEST_P(LocalImagesTest, DockerCliPullImagesInspectRmi) {
  if (!have("docker")) GTEST_SKIP() << "no docker CLI (/usr/local/bin/docker) on this machine";
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  if (::access(registry::testing::kRegistryBinary, X_OK) != 0) GTEST_SKIP() << "docker-registry is not installed";
  registry::testing::TempDir regdir;
  RegistryServer reg(regdir);
  std::string name = reg.host() + "/alpine:3.20";
  auto push = run("skopeo copy -q --dest-tls-verify=false --format v2s2 tarball:" + kAlpineTarball + " docker://" + name);
  ASSERT_EQ(push.status, 0) << push.out;

  auto r = run(daemon_->docker("pull " + name));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + name));
  EXPECT_THAT(r.out, HasSubstr("Pull complete"));
  EXPECT_THAT(r.out, HasSubstr("Digest: sha256:"));

  auto ls = run(daemon_->docker("images"));
  ASSERT_EQ(ls.status, 0) << ls.out;
  EXPECT_THAT(ls.out, HasSubstr(reg.host() + "/alpine"));
  EXPECT_THAT(ls.out, HasSubstr("3.20"));
  auto id = run(daemon_->docker("image inspect --format '{{.Id}}' " + name));
  ASSERT_EQ(id.status, 0) << id.out;
  EXPECT_EQ(id.out, id_of(name) + "\n");
  auto layers = run(daemon_->docker("image inspect --format '{{len .RootFS.Layers}} {{.Os}}/{{.Architecture}}' " + name));
  EXPECT_EQ(layers.out, "1 linux/amd64\n");
  EXPECT_EQ(layer_count(), 1U);

  auto again = run(daemon_->docker("pull " + name));
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("Status: Image is up to date for " + name));

  auto rm = run(daemon_->docker("rmi " + name));
  ASSERT_EQ(rm.status, 0) << rm.out;
  EXPECT_THAT(rm.out, HasSubstr("Untagged: " + name));
  EXPECT_THAT(rm.out, HasSubstr("Deleted: sha256:"));
  EXPECT_EQ(layer_count(), 0U) << "the layers are freed";
  auto empty = run(daemon_->docker("images -q"));
  EXPECT_EQ(empty.out, "");
  auto missing = run(daemon_->docker("rmi " + name));
  EXPECT_NE(missing.status, 0);
  EXPECT_THAT(missing.out, HasSubstr("No such image"));
}

INSTANTIATE_TEST_SUITE_P(Drivers, LocalImagesTest, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs),
                         storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
