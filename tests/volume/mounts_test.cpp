// Mount specs: Binds, Mounts, Tmpfs, VolumesFrom and image volumes, with Docker's errors;
// materialize() on a temporary store (and its rollback); what spawn() gets.
#include "bocker/volume/mounts.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <filesystem>
#include <fstream>

#include "bocker/runtime/error.hpp"
#include "bocker/volume/store.hpp"

namespace bocker::volume {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(ParseBind, HostPathsNamedAndAnonymous) {
  MountPoint b = parse_bind("/tmp/x/../y/:/data");
  EXPECT_EQ(b.type, "bind");
  EXPECT_EQ(b.source, "/tmp/y");
  EXPECT_EQ(b.destination, "/data");
  EXPECT_TRUE(b.rw);
  EXPECT_TRUE(b.create_source) << "-v creates a missing host directory";
  EXPECT_EQ(b.propagation, "rprivate");

  MountPoint ro = parse_bind("/srv:/a/./b/:ro");
  EXPECT_FALSE(ro.rw);
  EXPECT_EQ(ro.mode, "ro");
  EXPECT_EQ(ro.destination, "/a/b");

  MountPoint n = parse_bind("mydata:/var/lib/x:rw,z");
  EXPECT_EQ(n.type, "volume");
  EXPECT_EQ(n.name, "mydata");
  EXPECT_TRUE(n.rw);
  EXPECT_FALSE(n.anonymous);

  MountPoint a = parse_bind("/cache");
  EXPECT_EQ(a.type, "volume");
  EXPECT_TRUE(a.anonymous);
  EXPECT_EQ(a.name, "");
  EXPECT_EQ(a.destination, "/cache");

  MountPoint p = parse_bind("/h:/c:ro,rslave");
  EXPECT_EQ(p.propagation, "rslave");
}

TEST(ParseBind, DockerErrors) {
  EXPECT_THAT(error_of([] { parse_bind("/h:relative"); }), HasSubstr("mount path must be absolute"));
  EXPECT_THAT(error_of([] { parse_bind("/h:/"); }), HasSubstr("destination can't be '/'"));
  EXPECT_THAT(error_of([] { parse_bind("/h:/x/.."); }), HasSubstr("destination can't be '/'"));
  EXPECT_THAT(error_of([] { parse_bind("/h:/c:rx"); }), HasSubstr("invalid mode: rx"));
  EXPECT_THAT(error_of([] { parse_bind("/h:/c:ro,rw"); }), HasSubstr("invalid mode"));
  EXPECT_THAT(error_of([] { parse_bind("a:b:c:d"); }), HasSubstr("invalid volume specification"));
  EXPECT_THAT(error_of([] { parse_bind(":/c"); }), HasSubstr("empty source"));
  EXPECT_THAT(error_of([] { parse_bind("bad name:/c"); }),
              HasSubstr("includes invalid characters for a local volume name"));
  EXPECT_THAT(error_of([] { parse_bind("x:/c"); }), HasSubstr("invalid characters"))
      << "one-character names are invalid";
  EXPECT_THAT(error_of([] { parse_bind("relative"); }), HasSubstr("must be absolute"));
  EXPECT_THAT(error_of([] { parse_bind("vol:/c:rshared"); }), HasSubstr("binds only"));
  EXPECT_THAT(error_of([] { parse_bind(std::string("/h:/c\0x", 7)); }), HasSubstr("NUL"));
}

TEST(ParseMount, TypesAndErrors) {
  MountPoint b =
      parse_mount(json{{"Type", "bind"}, {"Source", "/srv"}, {"Target", "/data"}, {"ReadOnly", true}});
  EXPECT_EQ(b.type, "bind");
  EXPECT_FALSE(b.rw);
  EXPECT_FALSE(b.create_source) << "--mount type=bind requires the source to exist";
  MountPoint v = parse_mount(json{{"Type", "volume"}, {"Source", "vol1"}, {"Target", "/v"}});
  EXPECT_EQ(v.name, "vol1");
  MountPoint anon = parse_mount(json{{"Type", "volume"}, {"Target", "/v"}});
  EXPECT_TRUE(anon.anonymous);
  MountPoint t = parse_mount(
      json{{"Type", "tmpfs"}, {"Target", "/t"}, {"TmpfsOptions", {{"SizeBytes", 1048576}, {"Mode", 01777}}}});
  EXPECT_EQ(t.tmpfs_options, (std::vector<std::string>{"size=1048576", "mode=1777"}));

  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "bind"}, {"Target", "/d"}});
              }),
              HasSubstr("Source must not be empty"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "bind"}, {"Source", "rel"}, {"Target", "/d"}});
              }),
              HasSubstr("must be absolute"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "nfs"}, {"Target", "/d"}});
              }),
              HasSubstr("mount type unknown"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "volume"}, {"Source", "v1"}});
              }),
              HasSubstr("Target must not be empty"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "tmpfs"}, {"Source", "x"}, {"Target", "/t"}});
              }),
              HasSubstr("Source must be empty"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", 5}, {"Target", "/t"}});
              }),
              HasSubstr("must be a string"));
  EXPECT_THAT(error_of([] {
                parse_mount(json{{"Type", "bind"}, {"Source", "/s"}, {"Target", "/t"}, {"ReadOnly", "yes"}});
              }),
              HasSubstr("must be a boolean"));
  EXPECT_THAT(error_of([] { parse_mount(json::array()); }), HasSubstr("must be objects"));
}

TEST(ParseVolumesFrom, Modes) {
  auto a = parse_volumes_from("data");
  EXPECT_EQ(a.container, "data");
  EXPECT_FALSE(a.rw.has_value());
  EXPECT_EQ(parse_volumes_from("data:ro").rw, false);
  EXPECT_EQ(parse_volumes_from("data:rw").rw, true);
  EXPECT_THROW(parse_volumes_from("data:xx"), Error);
  EXPECT_THROW(parse_volumes_from(":ro"), Error);
  EXPECT_THROW(parse_volumes_from("a:b:c"), Error);
}

TEST(Plan, PrecedenceDuplicatesAndImageVolumes) {
  MountPoint other_vol = parse_bind("shared:/shared");
  other_vol.source = "/var/lib/bocker/volumes/shared/_data";
  MountPoint other_bind = parse_bind("/h:/data");
  MountPoint other_anon;
  other_anon.type = "volume";
  other_anon.name = std::string(64, 'a');
  other_anon.destination = "/anon";
  other_anon.anonymous = true;
  auto mounts_of = [&](const std::string& c) -> std::vector<MountPoint> {
    if (c != "donor") throw not_found("No such container: " + c);
    return {other_vol, other_bind, other_anon};
  };
  json hc = {{"Binds", {"/host:/data"}}, {"VolumesFrom", {"donor:ro"}}, {"Tmpfs", {{"/run", "size=1m"}}}};
  auto p = plan(hc, {"/shared", "/img", "/data"}, mounts_of);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].source, "/host") << "the explicit bind wins over the donor's";
  EXPECT_EQ(p[1].type, "tmpfs");
  EXPECT_EQ(p[2].destination, "/shared");
  EXPECT_FALSE(p[2].rw) << ":ro applies to every mount taken over";
  EXPECT_EQ(p[3].destination, "/anon");
  EXPECT_FALSE(p[3].anonymous) << "the donor's anonymous volume is not ours to remove";
  EXPECT_EQ(p[3].name, other_anon.name);
  EXPECT_EQ(p[4].destination, "/img");
  EXPECT_TRUE(p[4].anonymous);

  EXPECT_THAT(error_of([&] {
                plan(json{{"Binds", {"/a:/x", "v1:/x/"}}}, {}, mounts_of);
              }),
              HasSubstr("Duplicate mount point: /x"));
  EXPECT_THROW(plan(json{{"VolumesFrom", {"nosuch"}}}, {}, mounts_of), Error);
  EXPECT_THAT(error_of([&] {
                plan(json{{"Binds", "/a:/b"}}, {}, mounts_of);
              }),
              HasSubstr("must be an array"));
  EXPECT_THAT(error_of([&] { plan(json{{"Binds", {5}}}, {}, mounts_of); }), HasSubstr("must be strings"));
  EXPECT_THAT(error_of([&] {
                plan(json{{"Tmpfs", {{"/t", "size=1m,exec;rm"}}}}, {}, mounts_of);
              }),
              HasSubstr("invalid tmpfs option"));
  EXPECT_TRUE(plan(json::object(), {}, mounts_of).empty());
}

class MaterializeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (fs::temp_directory_path() / ("bocker-mounts-test-" + std::to_string(::getpid()))).string();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
};

TEST_F(MaterializeTest, CreatesVolumesAndHostDirsAndRollsBack) {
  Store s(root_);
  s.create("existing");
  std::vector<MountPoint> ms = {parse_bind(root_ + "/hostdir:/h"), parse_bind("existing:/e"),
                                parse_bind("fresh:/f"), parse_bind("/anon")};
  auto created = materialize(ms, s);
  EXPECT_EQ(created.size(), 2u) << "fresh and the anonymous one";
  EXPECT_TRUE(fs::is_directory(root_ + "/hostdir"));
  EXPECT_EQ(ms[1].source, s.path("existing"));
  EXPECT_EQ(ms[2].source, s.path("fresh"));
  ASSERT_FALSE(ms[3].name.empty());
  EXPECT_TRUE(s.get(ms[3].name).anonymous());
  EXPECT_NO_THROW(check_sources(ms));

  // A --mount bind whose source is missing: nothing created by this call stays.
  std::vector<MountPoint> bad = {
      parse_bind("newvol:/n"), parse_bind("/anon2"),
      parse_mount(json{{"Type", "bind"}, {"Source", root_ + "/missing"}, {"Target", "/m"}})};
  EXPECT_THAT(error_of([&] { materialize(bad, s); }),
              HasSubstr("bind source path does not exist: " + root_ + "/missing"));
  EXPECT_FALSE(s.find("newvol"));
  EXPECT_EQ(s.list().size(), 3u);
  EXPECT_FALSE(fs::exists(root_ + "/missing"));

  // Before a start: a -v host dir that vanished is made again, a --mount one is an error.
  fs::remove_all(root_ + "/hostdir");
  check_sources(ms);
  EXPECT_TRUE(fs::is_directory(root_ + "/hostdir"));
  std::vector<MountPoint> strict = {
      parse_mount(json{{"Type", "bind"}, {"Source", root_ + "/gone"}, {"Target", "/g"}})};
  EXPECT_THROW(check_sources(strict), Error);
}

TEST(SpawnMounts, ParentsFirstAndFlags) {
  MountPoint deep = parse_bind("/h1:/a/b/c:ro");
  MountPoint top = parse_bind("/h2:/a");
  MountPoint t = parse_tmpfs("/a/t", "size=1m,mode=755");
  auto sm = spawn_mounts({deep, top, t});
  ASSERT_EQ(sm.size(), 3u);
  EXPECT_EQ(sm[0].target, "/a");
  EXPECT_TRUE(sm[0].bind);
  EXPECT_EQ(sm[1].target, "/a/t");
  EXPECT_EQ(sm[1].fstype, "tmpfs");
  EXPECT_EQ(sm[1].data, "size=1m,mode=755");
  EXPECT_EQ(sm[1].flags, static_cast<unsigned long>(MS_NOEXEC | MS_NOSUID | MS_NODEV));
  EXPECT_EQ(sm[2].target, "/a/b/c");
  EXPECT_TRUE(sm[2].readonly);
}

TEST(MountPointJson, RoundTripAndApiShape) {
  MountPoint v = parse_bind("vol1:/data:ro");
  v.source = "/r/volumes/vol1/_data";
  EXPECT_EQ(MountPoint::from_json(v.to_json()), v);
  json api = v.to_api();
  EXPECT_EQ(api["Type"], "volume");
  EXPECT_EQ(api["Name"], "vol1");
  EXPECT_EQ(api["Driver"], "local");
  EXPECT_EQ(api["RW"], false);
  EXPECT_EQ(api["Destination"], "/data");
  json b = parse_bind("/h:/d").to_api();
  EXPECT_FALSE(b.contains("Name"));
  EXPECT_EQ(b["Propagation"], "rprivate");
}

}  // namespace
}  // namespace bocker::volume

namespace bocker::volume {
namespace {

TEST_F(MaterializeTest, CopyUpFillsAnEmptyVolumeOnlyAndStaysInTheRoot) {
  std::string rootfs = root_ + "/rootfs", vol = root_ + "/vol";
  fs::create_directories(rootfs + "/etc/app/sub");
  fs::create_directories(vol);
  std::ofstream(rootfs + "/etc/app/conf") << "setting=1\n";
  std::ofstream(rootfs + "/etc/app/sub/deep") << "deep\n";
  fs::create_symlink("/etc/passwd", rootfs + "/etc/app/link");
  fs::permissions(rootfs + "/etc/app", fs::perms(0750));
  // A symlink in the image pointing at the host's /etc: resolved inside the rootfs.
  fs::create_directory_symlink("/etc/app", rootfs + "/data");
  EXPECT_TRUE(copy_up(rootfs, "/data", vol));
  EXPECT_EQ(read_all(vol + "/conf"), "setting=1\n");
  EXPECT_EQ(read_all(vol + "/sub/deep"), "deep\n");
  EXPECT_TRUE(fs::is_symlink(vol + "/link"));
  EXPECT_EQ(fs::read_symlink(vol + "/link"), "/etc/passwd") << "links are copied, not followed";
  EXPECT_EQ(fs::status(vol).permissions() & fs::perms::all, fs::perms(0750));

  // Not empty any more: nothing is copied again.
  std::ofstream(rootfs + "/etc/app/new") << "x";
  EXPECT_FALSE(copy_up(rootfs, "/data", vol));
  EXPECT_FALSE(fs::exists(vol + "/new"));
  // Nothing at that path in the image.
  std::string vol2 = root_ + "/vol2";
  fs::create_directories(vol2);
  EXPECT_FALSE(copy_up(rootfs, "/nothing/here", vol2));
  EXPECT_TRUE(fs::is_empty(vol2));
  // "/etc/ssl" via ".." cannot leave the rootfs either: it is the rootfs's /etc or nothing.
  EXPECT_FALSE(copy_up(rootfs, "/../../../../etc/ssl-bocker-nonexistent", vol2));
}

TEST(CopyUpFlags, SetForOwnVolumesOnly) {
  EXPECT_TRUE(parse_bind("v1:/a").copy_up);
  EXPECT_FALSE(parse_bind("v1:/a:nocopy").copy_up);
  EXPECT_TRUE(parse_bind("/anon").copy_up);
  EXPECT_FALSE(parse_bind("/h:/a").copy_up);
  EXPECT_FALSE(
      parse_mount(json{{"Type", "volume"}, {"Target", "/a"}, {"VolumeOptions", {{"NoCopy", true}}}}).copy_up);
  MountPoint donor = parse_bind("v1:/a");
  auto p = plan(json{{"VolumesFrom", {"d"}}}, {"/img"},
                [&](const std::string&) { return std::vector<MountPoint>{donor}; });
  ASSERT_EQ(p.size(), 2u);
  EXPECT_FALSE(p[0].copy_up) << "the donor's volume is not filled again";
  EXPECT_TRUE(p[1].copy_up);
}

}  // namespace
}  // namespace bocker::volume
