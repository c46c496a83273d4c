// Hostile input to bockerd's pull, on overlay2 and btrfs: malformed references, missing tags,
// corrupted and truncated blobs, dropped connections, configs that disagree with their
// manifest, and layer tars that try to escape. Each failure must give a clear error and leave
// <root>/images and <root>/storage exactly as they were.
#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using registry::testing::FlakyProxy;
using registry::testing::Pusher;
using registry::testing::RegistryServer;
using storage::test::dir;
using storage::test::file;

class HostileTest : public ::testing::TestWithParam<Storage> {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    BOCKER_REQUIRE_REGISTRY();
    root_ = std::make_unique<TestRoot>(GetParam());
    registry_ = std::make_unique<RegistryServer>(regdir_);
    pusher_ = std::make_unique<Pusher>(registry_->url());
    daemon_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/bocker.sock", root_->dir() + "/bockerd.log",
                                              std::vector<std::string>{"--storage-driver", root_->driver()});
    std::string err = daemon_->start();
    ASSERT_EQ(err, "");
    // One good image first, so "unchanged" means more than "empty".
    ImageSpec good;
    good.layers = {layer_tar(small_tree("good"))};
    good_ = push_image(*pusher_, "good", "v1", good);
    auto r = pull(ref("good:v1"));
    ASSERT_EQ(r.status, 0) << r.out;
    before_ = store_listing(root_->root());
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "bockerd log:\n" << daemon_->log();
    daemon_.reset();
    registry_.reset();
    root_.reset();
  }
  std::string ref(const std::string& repo_tag) const { return registry_->host() + "/" + repo_tag; }
  CmdResult pull(const std::string& args) const { return run(daemon_->bocker("pull " + args)); }
  // A failed pull: non-zero exit, the store as it was, the daemon still answering.
  void expect_failed_and_unchanged(const CmdResult& r) {
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_EQ(store_listing(root_->root()), before_) << "the store changed after: " << r.out;
    EXPECT_EQ(run(daemon_->bocker("version")).status, 0) << "the daemon died";
    auto images = run(daemon_->bocker("images -q"));
    EXPECT_EQ(images.out, good_.image_id.substr(7, 12) + "\n") << images.out;
  }
  // The file docker-registry keeps a blob's bytes in.
  std::string blob_file(const std::string& digest) const {
    std::string hex = digest.substr(7);
    std::string store = regdir_.file("store-" + std::to_string(registry_->port()));
    return store + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }

  registry::testing::TempDir regdir_;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<Pusher> pusher_;
  std::unique_ptr<DaemonProcess> daemon_;
  PushedImage good_;
  std::map<std::string, std::string> before_;
};

TEST_P(HostileTest, MalformedReferences) {
  for (const char* bad : {"'UPPERCASE'", "'library/Upper'", "'a@sha256:zz'", "'a:b:c:d'", "'a//b'", "''"}) {
    SCOPED_TRACE(bad);
    auto r = pull(bad);
    expect_failed_and_unchanged(r);
    EXPECT_THAT(r.out, AnyOf(HasSubstr("invalid reference format"), HasSubstr("invalid"), HasSubstr("requires")))
        << r.out;
  }
  // Not here: "UPPER/case", which (as in docker) is well formed and names registry host UPPER;
  // pulling it would send a DNS query off this machine.
  // The API refuses a malformed one too (not only the CLI's own check), before any progress.
  auto api = run(daemon_->curl("POST", "/images/create?fromImage=UPPERCASE&tag=latest"));
  EXPECT_THAT(api.out, HasSubstr("HTTP 400")) << api.out;
  EXPECT_THAT(api.out, HasSubstr("UPPERCASE")) << api.out;
  EXPECT_EQ(store_listing(root_->root()), before_);
}

TEST_P(HostileTest, MissingTagAndRepository) {
  auto r = pull(ref("good:nope"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr("not found")) << r.out;
  r = pull(ref("nothing/here:v1"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr("not found")) << r.out;
  auto api = run(daemon_->curl("POST", "/images/create?fromImage=" + ref("good") + "&tag=nope"));
  EXPECT_THAT(api.out, HasSubstr("HTTP 404")) << api.out;
}

TEST_P(HostileTest, CorruptedBlobFailsVerification) {
  for (Compression c : {Compression::kNone, Compression::kGzip}) {
    SCOPED_TRACE(c == Compression::kGzip ? "gzip" : "uncompressed");
    ImageSpec spec;
    spec.oci = c == Compression::kNone;
    spec.compression = c;
    spec.layers = {layer_tar({dir("d"), file("d/payload", registry::testing::random_bytes(200000, 7))})};
    std::string repo = c == Compression::kGzip ? "corrupt/gz" : "corrupt/tar";
    PushedImage img = push_image(*pusher_, repo, "v1", spec);
    // Flip bytes in the middle of the stored blob: same size, wrong digest.
    std::string path = blob_file(img.layer_digests[0]);
    std::string data = read_file(path);
    ASSERT_GT(data.size(), 4096U);
    for (std::size_t i = data.size() / 2; i < data.size() / 2 + 64; ++i) data[i] = static_cast<char>(data[i] ^ 0x5a);
    storage::test::write_text(path, data);

    auto r = pull(ref(repo + ":v1"));
    expect_failed_and_unchanged(r);
    EXPECT_THAT(r.out, HasSubstr(img.layer_digests[0])) << r.out;
    EXPECT_THAT(r.out, AnyOf(HasSubstr("failed verification"), HasSubstr("downloaded content has digest"))) << r.out;
    EXPECT_FALSE(fs::exists(root_->layers_dir() + "/" + img.chain_hex[0]));
  }
}

TEST_P(HostileTest, TruncatedBlobIsRefused) {
  ImageSpec spec;
  spec.layers = {layer_tar({file("payload", registry::testing::random_bytes(300000, 9))})};
  PushedImage img = push_image(*pusher_, "trunc", "v1", spec);
  std::string path = blob_file(img.layer_digests[0]);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(fs::file_size(path) / 2)), 0);
  auto r = pull(ref("trunc:v1"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr(img.layer_digests[0])) << r.out;
}

TEST_P(HostileTest, DroppedConnectionsMidBlobResume) {
  ImageSpec spec;
  spec.oci = true;
  spec.compression = Compression::kNone;  // incompressible bytes: the cuts fall inside the blobs
  spec.layers = {layer_tar({file("one", registry::testing::random_bytes(1 << 20, 3))}),
                 layer_tar({file("two", registry::testing::random_bytes(1 << 20, 4))})};
  PushedImage img = push_image(*pusher_, "flaky", "v1", spec);
  FlakyProxy proxy(registry_->port(), 300000, 3);
  std::string name = "127.0.0.1:" + std::to_string(proxy.port()) + "/flaky:v1";
  auto r = pull(name);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_GE(proxy.cut(), 1) << "the proxy cut no connection";
  auto j = inspect_json(*daemon_, name);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["Id"], img.image_id);
  std::string top = root_->layer_tree(img.chain_hex[1]);
  EXPECT_EQ(fs::file_size(top + "/two"), 1U << 20);
}

TEST_P(HostileTest, ConfigWithFewerDiffIdsThanLayers) {
  ImageSpec spec;
  spec.layers = {layer_tar(small_tree("l1")), layer_tar({file("l2", "two")})};
  spec.diff_ids = std::vector<std::string>{registry::sha256_digest(spec.layers[0])};
  push_image(*pusher_, "fewer", "v1", spec);
  auto r = pull(ref("fewer:v1"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr("diff_ids")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("2 layers")) << r.out;
}

TEST_P(HostileTest, DiffIdThatDoesNotMatchTheLayer) {
  ImageSpec spec;
  spec.layers = {layer_tar(small_tree("liar"))};
  spec.diff_ids = std::vector<std::string>{registry::sha256_digest("something else")};
  PushedImage img = push_image(*pusher_, "liar", "v1", spec);
  auto r = pull(ref("liar:v1"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr("the image config expects " + img.diff_ids[0])) << r.out;
}

TEST_P(HostileTest, EscapingTarEntriesAreRefused) {
  struct Case {
    const char* repo;
    std::vector<Entry> entries;
    const char* entry;
  };
  std::vector<Case> cases = {
      {"escape/dotdot", {dir("d"), file("../../../escaped-file", "pwned")}, "../../../escaped-file"},
      {"escape/inner", {dir("d"), file("d/../../escaped-file", "pwned")}, "d/../../escaped-file"},
      {"escape/link",
       {dir("d"), hardlink("d/h", "../../../../etc/hostname")},
       "../../../../etc/hostname"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.repo);
    ImageSpec spec;
    spec.layers = {layer_tar(c.entries)};
    push_image(*pusher_, c.repo, "v1", spec);
    auto r = pull(ref(std::string(c.repo) + ":v1"));
    expect_failed_and_unchanged(r);
    EXPECT_THAT(r.out, HasSubstr(c.entry)) << r.out;
    EXPECT_THAT(r.out, HasSubstr("escapes")) << r.out;
  }
  // Nothing named escaped-file anywhere in the test's directory tree.
  for (auto it = fs::recursive_directory_iterator(root_->dir()); it != fs::recursive_directory_iterator(); ++it) {
    EXPECT_NE(it->path().filename(), "escaped-file") << it->path();
  }
}

TEST_P(HostileTest, UnknownLayerMediaTypeIsRefusedBeforeDownloading) {
  ImageSpec spec;
  spec.layers = {layer_tar(small_tree("odd"))};
  PushedImage img = push_image(*pusher_, "odd", "", spec);
  std::string m = img.manifest;
  std::string from = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  m.replace(m.find(from), from.size(), "application/x-bogus-layer");
  pusher_->push_manifest("odd", "v1", m, img.media_type);
  auto r = pull(ref("odd:v1"));
  expect_failed_and_unchanged(r);
  EXPECT_THAT(r.out, HasSubstr("application/x-bogus-layer")) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Drivers, HostileTest, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs), storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
