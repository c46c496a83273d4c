// bockerd pulls from a real docker-registry, on overlay2 and on btrfs: schema2 and OCI images
// pushed by skopeo, zstd layers, multi-arch indexes (default and --platform), and a multi-layer
// image with whiteouts, an opaque directory and hardlinks whose layers are checked in storage.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using registry::testing::Pusher;
using registry::testing::RegistryServer;
using storage::test::dir;
using storage::test::file;
using ::testing::HasSubstr;

class PullTest : public ::testing::TestWithParam<Storage> {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    BOCKER_REQUIRE_REGISTRY();
    root_ = std::make_unique<TestRoot>(GetParam());
    registry_ = std::make_unique<RegistryServer>(regdir_);
    pusher_ = std::make_unique<Pusher>(registry_->url());
    daemon_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/bocker.sock",
                                              root_->dir() + "/bockerd.log",
                                              std::vector<std::string>{"--storage-driver", root_->driver()});
    std::string err = daemon_->start();
    ASSERT_EQ(err, "");
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "bockerd log:\n" << daemon_->log();
    daemon_.reset();
    registry_.reset();
    root_.reset();
  }
  std::string ref(const std::string& repo_tag) const { return registry_->host() + "/" + repo_tag; }
  CmdResult pull(const std::string& args) const { return run(daemon_->bocker("pull " + args)); }
  void skopeo_push(const std::string& repo_tag, const std::string& flags) {
    if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << "no " << kAlpineTarball;
    auto r = run("skopeo copy -q --dest-tls-verify=false " + flags + " tarball:" + kAlpineTarball +
                 " docker://" + ref(repo_tag));
    ASSERT_EQ(r.status, 0) << r.out;
  }
  // The manifest as the registry serves it (to check what skopeo pushed).
  std::string registry_manifest(const std::string& repo, const std::string& tag) const {
    return run("curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: "
               "application/vnd.docker.distribution.manifest.v2+json' " +
               registry_->url() + "/v2/" + repo + "/manifests/" + tag)
        .out;
  }
  // A pulled alpine: one layer whose tree holds etc/alpine-release.
  void expect_alpine(const std::string& name) {
    auto j = inspect_json(*daemon_, name);
    ASSERT_TRUE(j.is_object()) << name;
    ASSERT_EQ(j["RootFS"]["Layers"].size(), 1U) << j.dump();
    std::string diff_id = j["RootFS"]["Layers"][0];
    EXPECT_EQ(j["Architecture"], "amd64");
    EXPECT_EQ(j["GraphDriver"]["Name"], root_->driver());
    std::string tree = root_->layer_tree(diff_id.substr(7));
    EXPECT_THAT(read_file(tree + "/etc/alpine-release"), HasSubstr("3.20.3"));
    EXPECT_TRUE(fs::is_symlink(tree + "/bin/sh")) << tree;
    EXPECT_FALSE(fs::exists(root_->layers_dir() + "/" + diff_id.substr(7) + "/incomplete"));
    EXPECT_FALSE(fs::exists(root_->layers_dir() + "/" + diff_id.substr(7) + "/unsynced"))
        << "a finished pull syncs";
  }

  registry::testing::TempDir regdir_;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<Pusher> pusher_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_P(PullTest, DockerSchema2FromSkopeo) {
  skopeo_push("alpine:3.20", "--format v2s2");
  EXPECT_THAT(registry_manifest("alpine", "3.20"),
              HasSubstr("application/vnd.docker.distribution.manifest.v2+json"));
  auto r = pull(ref("alpine:3.20"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Pull complete"));
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + ref("alpine:3.20")));
  expect_alpine(ref("alpine:3.20"));
  auto images = run(daemon_->bocker("images"));
  EXPECT_THAT(images.out, HasSubstr(ref("alpine")));
  EXPECT_THAT(images.out, HasSubstr("3.20"));

  auto again = pull(ref("alpine:3.20"));
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("Already exists"));
  EXPECT_THAT(again.out, HasSubstr("Status: Image is up to date for " + ref("alpine:3.20")));
}

TEST_P(PullTest, OciManifestFromSkopeo) {
  skopeo_push("alpine:oci", "--format oci");
  EXPECT_THAT(registry_manifest("alpine", "oci"), HasSubstr("application/vnd.oci.image.config.v1+json"));
  auto r = pull(ref("alpine:oci"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + ref("alpine:oci")));
  expect_alpine(ref("alpine:oci"));
}

TEST_P(PullTest, ZstdLayersFromSkopeo) {
  skopeo_push("alpine:zstd", "--format oci --dest-compress-format zstd");
  std::string m = registry_manifest("alpine", "zstd");
  if (m.find("tar+zstd") == std::string::npos)
    GTEST_SKIP() << "this skopeo did not write a zstd layer: " << m;
  auto r = pull(ref("alpine:zstd"));
  ASSERT_EQ(r.status, 0) << r.out;
  expect_alpine(ref("alpine:zstd"));
}

TEST_P(PullTest, HandBuiltZstdAndUncompressedAndByDigest) {
  ImageSpec z;
  z.oci = true;
  z.compression = Compression::kZstd;
  z.layers = {layer_tar(small_tree("zstd-one")), layer_tar({file("second", std::string(300000, 'z'))})};
  PushedImage zi = push_image(*pusher_, "hand/zstd", "v1", z);
  auto r = pull(ref("hand/zstd:v1"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = inspect_json(*daemon_, ref("hand/zstd:v1"));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["Id"], zi.image_id);
  EXPECT_EQ(j["RootFS"]["Layers"], nlohmann::json(zi.diff_ids));
  EXPECT_EQ(read_file(root_->layer_tree(zi.chain_hex[0]) + "/etc/hostname"), "zstd-one\n");
  EXPECT_EQ(read_file(root_->layer_tree(zi.chain_hex[1]) + "/second"), std::string(300000, 'z'));

  ImageSpec plain;
  plain.oci = true;  // application/vnd.oci.image.layer.v1.tar
  plain.compression = Compression::kNone;
  plain.layers = {layer_tar(small_tree("plain"))};
  PushedImage pi = push_image(*pusher_, "hand/plain", "", plain);  // only by digest
  r = pull(ref("hand/plain@" + pi.manifest_digest));
  ASSERT_EQ(r.status, 0) << r.out;
  j = inspect_json(*daemon_, pi.image_id.substr(7, 12));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["RepoTags"].size(), 0U) << j.dump();
  EXPECT_EQ(j["RepoDigests"][0], ref("hand/plain@" + pi.manifest_digest));
  EXPECT_EQ(read_file(root_->layer_tree(pi.chain_hex[0]) + "/etc/hostname"), "plain\n");
}

TEST_P(PullTest, MultiArchIndexPicksThePlatform) {
  for (bool oci : {true, false}) {
    SCOPED_TRACE(oci ? "OCI index" : "Docker manifest list");
    std::string repo = oci ? "multi/oci" : "multi/docker";
    ImageSpec amd, arm;
    amd.oci = arm.oci = oci;
    amd.layers = {layer_tar(small_tree(repo + "-amd64"))};
    arm.layers = {layer_tar(small_tree(repo + "-arm64"))};
    arm.architecture = "arm64";
    arm.variant = "v8";
    PushedImage a = push_image(*pusher_, repo, "", amd);
    PushedImage b = push_image(*pusher_, repo, "", arm);
    // arm64 first: the choice must come from the platform, not the order.
    std::string index_digest = push_index(*pusher_, repo, "latest", {{b, "arm64"}, {a, "amd64"}}, oci);

    auto r = pull(ref(repo));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + ref(repo + ":latest")));
    auto j = inspect_json(*daemon_, ref(repo));
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["Id"], a.image_id);
    EXPECT_EQ(j["Architecture"], "amd64");
    EXPECT_EQ(read_file(root_->layer_tree(a.chain_hex[0]) + "/etc/hostname"), repo + "-amd64\n");

    r = pull("--platform linux/arm64 " + ref(repo + ":latest"));
    ASSERT_EQ(r.status, 0) << r.out;
    j = inspect_json(*daemon_, ref(repo));
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["Id"], b.image_id) << "the tag moves to the arm64 image";
    EXPECT_EQ(j["Architecture"], "arm64");
    EXPECT_EQ(read_file(root_->layer_tree(b.chain_hex[0]) + "/etc/hostname"), repo + "-arm64\n");
    // The amd64 image stays, untagged.
    EXPECT_TRUE(inspect_json(*daemon_, a.image_id).is_object());

    r = pull("--platform linux/s390x " + ref(repo));
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("s390x"));
    (void)index_digest;
  }
}

struct Node {
  bool exists = false;
  mode_t type = 0;
  dev_t rdev = 0;
  ino_t ino = 0;
  nlink_t nlink = 0;
};
Node node(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return {true, st.st_mode & S_IFMT, st.st_rdev, st.st_ino, st.st_nlink};
}
std::string xattr(const std::string& path, const char* name) {
  char buf[64];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

TEST_P(PullTest, MultiLayerWhiteoutsOpaqueDirAndHardlinks) {
  ImageSpec spec;
  spec.layers = {
      layer_tar({dir("a"), file("a/keep", "keep"), file("a/gone", "gone"), dir("opq"), file("opq/old1", "1"),
                 dir("opq/sub"), file("opq/sub/old2", "2"), file("top", "v1")}),
      layer_tar({dir("a"), file("a/.wh.gone", ""), dir("opq"), file("opq/.wh..wh..opq", ""),
                 file("opq/new", "new"), file("top", "v2"), dir("links"), file("links/h1", "shared"),
                 hardlink("links/h2", "links/h1")}),
      layer_tar(
          {file(".wh.top", ""), dir("links"), file("links/h1x", "x"), hardlink("links/h3", "links/h1x")}),
  };
  PushedImage img = push_image(*pusher_, "layers/wh", "v1", spec);
  auto r = pull(ref("layers/wh:v1"));
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = inspect_json(*daemon_, ref("layers/wh:v1"));
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["RootFS"]["Layers"].size(), 3U);
  EXPECT_EQ(j["RootFS"]["Layers"], nlohmann::json(img.diff_ids));
  for (const auto& c : img.chain_hex) EXPECT_TRUE(fs::is_directory(root_->layer_tree(c))) << c;

  if (GetParam() == Storage::kBtrfs) {
    // The top layer's tree is the whole image.
    std::string t = root_->layer_tree(img.chain_hex[2]);
    EXPECT_EQ(read_file(t + "/a/keep"), "keep");
    EXPECT_FALSE(node(t + "/a/gone").exists);
    EXPECT_FALSE(node(t + "/a/.wh.gone").exists);
    EXPECT_FALSE(node(t + "/opq/old1").exists);
    EXPECT_FALSE(node(t + "/opq/sub").exists);
    EXPECT_EQ(read_file(t + "/opq/new"), "new");
    EXPECT_FALSE(node(t + "/opq/.wh..wh..opq").exists);
    EXPECT_FALSE(node(t + "/top").exists);
    Node h1 = node(t + "/links/h1"), h2 = node(t + "/links/h2"), h1x = node(t + "/links/h1x"),
         h3 = node(t + "/links/h3");
    ASSERT_TRUE(h1.exists && h2.exists && h1x.exists && h3.exists);
    EXPECT_EQ(h1.ino, h2.ino);
    EXPECT_EQ(h1.nlink, 2U);
    EXPECT_EQ(h1x.ino, h3.ino);
    // The middle layer still sees what it had: layers are snapshots, not shared trees.
    std::string mid = root_->layer_tree(img.chain_hex[1]);
    EXPECT_EQ(read_file(mid + "/top"), "v2");
    EXPECT_EQ(read_file(root_->layer_tree(img.chain_hex[0]) + "/opq/old1"), "1");
  } else {
    // overlay2: each layer's diff holds only its own entries; whiteouts are 0/0 char devices and
    // the opaque dir carries trusted.overlay.opaque=y.
    std::string l0 = root_->layer_tree(img.chain_hex[0]);
    std::string l1 = root_->layer_tree(img.chain_hex[1]);
    std::string l2 = root_->layer_tree(img.chain_hex[2]);
    EXPECT_EQ(read_file(l0 + "/a/gone"), "gone");
    EXPECT_EQ(read_file(l0 + "/opq/sub/old2"), "2");
    Node wh = node(l1 + "/a/gone");
    EXPECT_TRUE(wh.exists && wh.type == S_IFCHR && major(wh.rdev) == 0 && minor(wh.rdev) == 0);
    EXPECT_FALSE(node(l1 + "/a/.wh.gone").exists);
    EXPECT_FALSE(node(l1 + "/a/keep").exists);
    EXPECT_EQ(xattr(l1 + "/opq", "trusted.overlay.opaque"), "y");
    EXPECT_EQ(xattr(l1 + "/a", "trusted.overlay.opaque"), "");
    EXPECT_FALSE(node(l1 + "/opq/.wh..wh..opq").exists);
    EXPECT_EQ(read_file(l1 + "/opq/new"), "new");
    EXPECT_EQ(read_file(l1 + "/top"), "v2");
    Node h1 = node(l1 + "/links/h1"), h2 = node(l1 + "/links/h2");
    EXPECT_TRUE(h1.exists && h1.ino == h2.ino && h1.nlink == 2U);
    Node top = node(l2 + "/top");
    EXPECT_TRUE(top.exists && top.type == S_IFCHR && top.rdev == makedev(0, 0));
    Node h1x = node(l2 + "/links/h1x"), h3 = node(l2 + "/links/h3");
    EXPECT_TRUE(h1x.exists && h1x.ino == h3.ino);
  }

  // rmi frees every layer of the image.
  auto rm = run(daemon_->bocker("rmi " + ref("layers/wh:v1")));
  ASSERT_EQ(rm.status, 0) << rm.out;
  EXPECT_THAT(rm.out, HasSubstr("Deleted: " + img.image_id));
  for (const auto& c : img.chain_hex) EXPECT_FALSE(fs::exists(root_->layers_dir() + "/" + c)) << c;
}

INSTANTIATE_TEST_SUITE_P(Drivers, PullTest, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs),
                         storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
