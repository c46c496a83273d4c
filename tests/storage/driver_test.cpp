// Both storage drivers on a real kernel: btrfs on a loop device, overlay2 on /tmp.
#include "bocker/storage/driver.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "storage_test_support.hpp"

namespace bocker::storage {
namespace {

using namespace test;

Error::Kind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no bocker::Error thrown";
  return Error::Kind::kInternal;
}

class DriverTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, loop devices)";
    tmp_.emplace();
    if (GetParam() == "btrfs") {
      if (!have_tool("mkfs.btrfs") || !have_tool("losetup")) GTEST_SKIP() << "mkfs.btrfs or losetup missing";
      loop_.emplace(tmp_->path());
      root_ = loop_->mnt() + "/storage";
    } else {
      root_ = tmp_->path() + "/storage";
    }
    driver_ = open_driver(root_, GetParam());
    ASSERT_EQ(driver_->name(), GetParam());
  }

  void TearDown() override {
    driver_.reset();
    if (loop_) {
      // Only the loop file system itself may still be mounted below the temp dir.
      EXPECT_EQ(mounts_below(tmp_->path()), std::vector<std::string>{loop_->mnt()});
    } else if (tmp_) {
      EXPECT_TRUE(mounts_below(tmp_->path()).empty());
    }
    loop_.reset();
    if (tmp_) {
      const std::string path = tmp_->path();
      tmp_.reset();
      EXPECT_TRUE(mounts_below(path).empty()) << "mounts left below " << path;
    }
  }

  void add_layer(const std::string& id, const std::string& parent, const std::vector<Entry>& entries) {
    Fd fd = driver_->begin_layer(id, parent);
    extract(fd.get(), make_tar(entries), driver_->whiteout_mode());
    driver_->commit_layer(id);
  }

  // base: etc/{a,b}, opq/{x,y}, del/f, keep; child: etc/a changed, etc/b deleted, opq opaque with z,
  // del deleted, n added.
  void base_and_child() {
    add_layer("base", "",
              {dir("etc"), file("etc/a", "a1"), file("etc/b", "b1"), dir("opq"), file("opq/x", "x"),
               file("opq/y", "y"), dir("del"), file("del/f", "f"), file("keep", "keep", 0600),
               symlink("ln", "etc/a")});
    add_layer(
        "child", "base",
        {dir("etc"), file("etc/a", "a2"), file("etc/.wh.b", ""), dir("opq"), file("opq/.wh..wh..opq", ""),
         file("opq/z", "z"), file(".wh.del", ""), file("n", "new", 0755)});
  }

  std::string diff_tar(const std::string& cid) {
    std::string out;
    image::TarWriter w(
        [&](std::span<const std::byte> b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); });
    driver_->diff_rootfs(cid, w);
    return out;
  }

  std::optional<TempDir> tmp_;
  std::optional<LoopBtrfs> loop_;
  std::string root_;
  std::unique_ptr<Driver> driver_;
};

const std::map<std::string, std::string> kMerged = {
    {"etc", "d 755"},   {"etc/a", "f 644 a2"}, {"keep", "f 600 keep"}, {"ln", "l etc/a"},
    {"n", "f 755 new"}, {"opq", "d 755"},      {"opq/z", "f 644 z"},
};

TEST_P(DriverTest, LayersStackIntoTheMergedView) {
  base_and_child();
  EXPECT_TRUE(driver_->has_layer("base"));
  EXPECT_TRUE(driver_->has_layer("child"));
  EXPECT_FALSE(driver_->has_layer("other"));
  EXPECT_FALSE(driver_->has_layer("../x"));
  EXPECT_EQ(driver_->whiteout_mode(),
            GetParam() == "btrfs" ? image::WhiteoutMode::kApply : image::WhiteoutMode::kOverlay);
  const std::string rootfs = driver_->create_rootfs("c1", "child");
  EXPECT_EQ(view(rootfs), kMerged);
  if (GetParam() == "overlay2") {
    EXPECT_EQ(mounts_below(rootfs), std::vector<std::string>{rootfs});
  }
  driver_->remove_rootfs("c1");
  EXPECT_FALSE(std::filesystem::exists(rootfs));
}

TEST_P(DriverTest, RootfsWritesLeaveLayersAlone) {
  base_and_child();
  const std::string r1 = driver_->create_rootfs("c1", "child");
  write_text(r1 + "/etc/a", "changed");
  write_text(r1 + "/fresh", "fresh");
  std::filesystem::remove(r1 + "/keep");
  std::filesystem::remove_all(r1 + "/opq");
  const std::string r2 = driver_->create_rootfs("c2", "child");
  EXPECT_EQ(view(r2), kMerged);
  const std::string r3 = driver_->create_rootfs("c3", "base");
  EXPECT_EQ(view(r3).at("etc/a"), "f 644 a1");
  EXPECT_EQ(view(r3).at("opq/x"), "f 644 x");
  EXPECT_EQ(view(r1).at("etc/a"), "f 644 changed");
  for (const char* c : {"c1", "c2", "c3"}) driver_->remove_rootfs(c);
}

TEST_P(DriverTest, DiffOfRootfsReproducesItAsANewLayer) {
  base_and_child();
  const std::string r1 = driver_->create_rootfs("c1", "child");
  write_text(r1 + "/added", "added");
  std::filesystem::create_directories(r1 + "/newdir/sub");
  write_text(r1 + "/newdir/sub/f", "deep");
  write_text(r1 + "/etc/a", "a3-longer");
  std::filesystem::remove(r1 + "/keep");
  std::filesystem::remove(r1 + "/ln");
  std::filesystem::create_symlink("n", r1 + "/ln");
  ASSERT_EQ(::chmod((r1 + "/n").c_str(), 0700), 0);
  std::filesystem::remove_all(r1 + "/etc");  // replaced dir: overlay makes it opaque
  std::filesystem::create_directories(r1 + "/etc");
  write_text(r1 + "/etc/only", "only");
  const auto want = view(r1);

  const std::string tar = diff_tar("c1");
  ASSERT_GT(tar.size(), 1024u);
  EXPECT_NE(tar.find(".wh.keep"), std::string::npos);
  EXPECT_EQ(tar.find("trusted.overlay"), std::string::npos);  // overlayfs bookkeeping stays out
  if (GetParam() == "overlay2") {
    EXPECT_NE(tar.find("etc/.wh..wh..opq"), std::string::npos);
  }
  Fd fd = driver_->begin_layer("committed", "child");
  extract(fd.get(), tar, driver_->whiteout_mode());
  fd.reset();
  driver_->commit_layer("committed");
  const std::string r2 = driver_->create_rootfs("c2", "committed");
  EXPECT_EQ(view(r2), want);
  EXPECT_FALSE(view(r2).contains("keep"));
  EXPECT_FALSE(view(r2).contains("etc/a"));
  EXPECT_GE(driver_->layer_size("committed"), std::string("added").size() + std::string("deep").size());

  // An unchanged container gives an empty diff (just the end-of-archive blocks).
  const std::string r3 = driver_->create_rootfs("c3", "committed");
  EXPECT_EQ(diff_tar("c3").size(), 1024u);
  for (const char* c : {"c1", "c2", "c3"}) driver_->remove_rootfs(c);
}

TEST_P(DriverTest, LayerSizeCountsTheLayersOwnFiles) {
  add_layer("base", "", {file("big", std::string(1000, 'x')), file("small", std::string(24, 'y'))});
  add_layer("child", "base", {file("more", std::string(500, 'z'))});
  EXPECT_EQ(driver_->layer_size("base"), 1024u);
  EXPECT_EQ(driver_->layer_size("child"), 500u);
}

TEST_P(DriverTest, RemoveRefusesLayersInUse) {
  base_and_child();
  driver_->create_rootfs("c1", "child");
  EXPECT_EQ(kind_of([&] { driver_->remove_layer("base"); }), Error::Kind::kConflict);
  EXPECT_EQ(kind_of([&] { driver_->remove_layer("child"); }), Error::Kind::kConflict);
  EXPECT_TRUE(driver_->has_layer("base"));
  EXPECT_TRUE(driver_->has_layer("child"));
  driver_->remove_rootfs("c1");
  EXPECT_EQ(kind_of([&] { driver_->remove_rootfs("c1"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->remove_layer("base"); }), Error::Kind::kConflict);
  driver_->remove_layer("child");
  driver_->remove_layer("base");
  EXPECT_FALSE(driver_->has_layer("child"));
  EXPECT_FALSE(driver_->has_layer("base"));
  EXPECT_EQ(kind_of([&] { driver_->remove_layer("base"); }), Error::Kind::kNotFound);
  EXPECT_TRUE(std::filesystem::is_empty(root_ + "/" + GetParam() + "/layers"));
  if (GetParam() == "overlay2") {
    EXPECT_TRUE(std::filesystem::is_empty(root_ + "/overlay2/l"));
  }
}

TEST_P(DriverTest, BadInputIsRefusedAndChangesNothing) {
  base_and_child();
  EXPECT_EQ(kind_of([&] { driver_->begin_layer("Bad", ""); }), Error::Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { driver_->begin_layer("../x", ""); }), Error::Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { driver_->begin_layer(std::string(129, 'a'), ""); }), Error::Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { driver_->begin_layer("x", "missing"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->begin_layer("child", "base"); }), Error::Kind::kConflict);
  EXPECT_EQ(kind_of([&] { driver_->commit_layer("child"); }), Error::Kind::kConflict);
  EXPECT_EQ(kind_of([&] { driver_->commit_layer("nope"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->create_rootfs("c1", "nope"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->create_rootfs("../c", "base"); }), Error::Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { driver_->mount_rootfs("nope"); }), Error::Kind::kNotFound);
  driver_->create_rootfs("c1", "base");
  EXPECT_EQ(kind_of([&] { driver_->create_rootfs("c1", "child"); }), Error::Kind::kConflict);
  EXPECT_FALSE(driver_->has_layer("x"));
  try {
    driver_->begin_layer("x", "missing");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  driver_->remove_rootfs("c1");
}

TEST_P(DriverTest, CleanupIncompleteRemovesUncommittedLayers) {
  base_and_child();
  {
    Fd fd = driver_->begin_layer("half", "child");
    extract(fd.get(), make_tar({file("partial", "p")}), driver_->whiteout_mode());
  }
  EXPECT_FALSE(driver_->has_layer("half"));
  EXPECT_EQ(kind_of([&] { driver_->remove_layer("half"); }), Error::Kind::kConflict);
  // Simulates a daemon restart: a fresh driver on the same root.
  driver_ = open_driver(root_, "");
  ASSERT_EQ(driver_->name(), GetParam());
  driver_->cleanup_incomplete();
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + GetParam() + "/layers/half"));
  EXPECT_TRUE(driver_->has_layer("child"));
  // The child is free again (no leftover child), and the id can be reused.
  Fd fd = driver_->begin_layer("half", "child");
  fd.reset();
  driver_->abort_layer("half");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/" + GetParam() + "/layers/half"));
  EXPECT_EQ(kind_of([&] { driver_->abort_layer("half"); }), Error::Kind::kNotFound);
  driver_->remove_layer("child");
}

std::size_t count_entries(const std::string& dir) {
  return static_cast<std::size_t>(
      std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}));
}

std::string this_boot() {
  std::string s = read_file("/proc/sys/kernel/random/boot_id");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST_P(DriverTest, UnsyncedLayersArePresentAndOneSyncFinalizesTheChain) {
  const std::string layers = root_ + "/" + GetParam() + "/layers/";
  Fd fd = driver_->begin_layer("base", "");
  EXPECT_EQ(read_file(layers + "base/incomplete"), this_boot());
  extract(fd.get(), make_tar({file("a", "a1")}), driver_->whiteout_mode());
  fd.reset();
  driver_->commit_layer_unsynced("base");
  EXPECT_TRUE(driver_->has_layer("base"));
  EXPECT_FALSE(std::filesystem::exists(layers + "base/incomplete"));
  EXPECT_EQ(read_file(layers + "base/unsynced"), this_boot());
  // An unsynced layer is a parent like any committed one (btrfs snapshots it).
  fd = driver_->begin_layer("child", "base");
  extract(fd.get(), make_tar({file("b", "b1")}), driver_->whiteout_mode());
  fd.reset();
  EXPECT_EQ(kind_of([&] { driver_->sync_layers("child"); }), Error::Kind::kConflict);  // still being written
  driver_->commit_layer_unsynced("child");
  EXPECT_EQ(kind_of([&] { driver_->commit_layer_unsynced("child"); }), Error::Kind::kConflict);
  EXPECT_EQ(kind_of([&] { driver_->commit_layer_unsynced("nope"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->sync_layers("nope"); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { driver_->sync_layers("../x"); }), Error::Kind::kInvalid);
  EXPECT_TRUE(std::filesystem::exists(layers + "child/unsynced"));

  driver_->sync_layers("child");  // the child and the base below it
  EXPECT_FALSE(std::filesystem::exists(layers + "child/unsynced"));
  EXPECT_FALSE(std::filesystem::exists(layers + "base/unsynced"));
  EXPECT_TRUE(driver_->has_layer("child"));
  driver_->sync_layers("child");  // nothing left to do
  const std::string r = driver_->create_rootfs("c1", "child");
  EXPECT_EQ(view(r), (std::map<std::string, std::string>{{"a", "f 644 a1"}, {"b", "f 644 b1"}}));
  driver_->remove_rootfs("c1");
  // commit_layer is durable at once.
  fd = driver_->begin_layer("top", "child");
  fd.reset();
  driver_->commit_layer("top");
  EXPECT_TRUE(driver_->has_layer("top"));
  EXPECT_FALSE(std::filesystem::exists(layers + "top/unsynced"));
  EXPECT_FALSE(std::filesystem::exists(layers + "top/incomplete"));
}

TEST_P(DriverTest, UnsyncedLayersCanBeRemoved) {
  const std::string layers = root_ + "/" + GetParam() + "/layers/";
  Fd fd = driver_->begin_layer("base", "");
  fd.reset();
  driver_->commit_layer_unsynced("base");
  driver_->remove_layer("base");
  EXPECT_FALSE(driver_->has_layer("base"));
  EXPECT_TRUE(std::filesystem::is_empty(layers));
  // Written again under the same id: a sync covers the new content.
  fd = driver_->begin_layer("base", "");
  extract(fd.get(), make_tar({file("again", "x")}), driver_->whiteout_mode());
  fd.reset();
  driver_->commit_layer_unsynced("base");
  driver_->sync_layers("base");
  EXPECT_FALSE(std::filesystem::exists(layers + "base/unsynced"));
  driver_->remove_layer("base");
}

// A daemon killed after committing layers unsynced, same boot: the page cache holds them, so the
// restart syncs and keeps them.
TEST_P(DriverTest, CleanupIncompleteFinalizesUnsyncedLayersOfThisBoot) {
  const std::string layers = root_ + "/" + GetParam() + "/layers/";
  add_layer("base", "", {file("a", "a1")});
  for (const auto& [id, parent] : {std::pair<std::string, std::string>{"mid", "base"}, {"top", "mid"}}) {
    Fd fd = driver_->begin_layer(id, parent);
    extract(fd.get(), make_tar({file(id, id)}), driver_->whiteout_mode());
    fd.reset();
    driver_->commit_layer_unsynced(id);
  }
  {
    Fd fd = driver_->begin_layer("half", "top");
    extract(fd.get(), make_tar({file("partial", "p")}), driver_->whiteout_mode());
  }
  driver_ = open_driver(root_, GetParam());  // the restart
  driver_->cleanup_incomplete();
  EXPECT_FALSE(std::filesystem::exists(layers + "half"));
  for (const char* id : {"base", "mid", "top"}) {
    EXPECT_TRUE(driver_->has_layer(id)) << id;
    EXPECT_FALSE(std::filesystem::exists(layers + id + "/unsynced")) << id;
  }
  const std::string r = driver_->create_rootfs("c1", "top");
  EXPECT_EQ(view(r), (std::map<std::string, std::string>{
                         {"a", "f 644 a1"}, {"mid", "f 644 mid"}, {"top", "f 644 top"}}));
  driver_->remove_rootfs("c1");
}

// After a reboot (another boot id in the marker) an unsynced layer's content may be lost: it goes,
// with everything on top of it; what is below stays, and the ids can be written again.
TEST_P(DriverTest, CleanupIncompleteRemovesUnsyncedLayersOfAnotherBoot) {
  const std::string layers = root_ + "/" + GetParam() + "/layers/";
  add_layer("base", "", {file("a", "a1")});
  for (const auto& [id, parent] :
       {std::pair<std::string, std::string>{"mid", "base"}, {"top", "mid"}, {"side", "base"}}) {
    Fd fd = driver_->begin_layer(id, parent);
    extract(fd.get(), make_tar({file(id, id)}), driver_->whiteout_mode());
    fd.reset();
    driver_->commit_layer_unsynced(id);
  }
  // mid: unsynced in an earlier boot; top (this boot) sits on it; side: unreadable marker.
  write_text(layers + "mid/unsynced", "00000000-1111-2222-3333-444444444444\n");
  std::filesystem::remove(layers + "side/unsynced");
  std::filesystem::create_directory(layers + "side/unsynced");  // not a readable file
  driver_ = open_driver(root_, GetParam());
  driver_->cleanup_incomplete();
  EXPECT_TRUE(driver_->has_layer("base"));
  EXPECT_FALSE(std::filesystem::exists(layers + "base/unsynced"));
  for (const char* id : {"mid", "top", "side"}) {
    EXPECT_FALSE(driver_->has_layer(id)) << id;
    EXPECT_FALSE(std::filesystem::exists(layers + id)) << id;
  }
  EXPECT_EQ(count_entries(layers), 1U);
  if (GetParam() == "overlay2") {  // only base's short link is left
    EXPECT_EQ(count_entries(root_ + "/overlay2/l"), 1U);
  }
  // The store is usable: mid is pulled again on the same base.
  add_layer("mid", "base", {file("mid", "mid2")});
  const std::string r = driver_->create_rootfs("c1", "mid");
  EXPECT_EQ(view(r), (std::map<std::string, std::string>{{"a", "f 644 a1"}, {"mid", "f 644 mid2"}}));
  driver_->remove_rootfs("c1");
}

TEST_P(DriverTest, RootfsSurvivesUnmountAndRemount) {
  base_and_child();
  const std::string r = driver_->create_rootfs("c1", "child");
  write_text(r + "/state", "kept");
  driver_->unmount_rootfs("c1");
  driver_->unmount_rootfs("c1");  // not mounted: fine
  if (GetParam() == "overlay2") {
    EXPECT_TRUE(mounts_below(r).empty());
    EXPECT_FALSE(std::filesystem::exists(r + "/state"));
  }
  driver_->mount_rootfs("c1");
  driver_->mount_rootfs("c1");  // already mounted: fine
  if (GetParam() == "overlay2") {
    EXPECT_EQ(mounts_below(r).size(), 1u);
  }
  auto v = view(r);
  EXPECT_EQ(v.at("state"), "f 644 kept");
  EXPECT_EQ(v.at("etc/a"), "f 644 a2");
  driver_->remove_rootfs("c1");
}

INSTANTIATE_TEST_SUITE_P(Drivers, DriverTest, ::testing::Values("btrfs", "overlay2"),
                         [](const auto& info) { return info.param; });

TEST(OpenDriver, PicksByFileSystem) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, loop devices)";
  if (!have_tool("mkfs.btrfs") || !have_tool("losetup")) GTEST_SKIP() << "mkfs.btrfs or losetup missing";
  TempDir tmp;
  {
    LoopBtrfs loop(tmp.path());
    EXPECT_EQ(open_driver(loop.mnt() + "/s", "")->name(), "btrfs");
    EXPECT_EQ(open_driver(loop.mnt() + "/s", "overlay")->name(), "overlay2");
  }
  EXPECT_EQ(open_driver(tmp.path() + "/plain", "")->name(), "overlay2");
  try {
    open_driver(tmp.path() + "/plain", "btrfs");
    ADD_FAILURE() << "btrfs accepted on a non-btrfs root";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find(tmp.path() + "/plain"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" is on "), std::string::npos) << e.what();
  }
  EXPECT_EQ(kind_of([&] { open_driver(tmp.path() + "/plain", "zfs"); }), Error::Kind::kInvalid);
}

TEST(Overlay, CleanupRemovesDanglingShortLinks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (overlay)";
  TempDir tmp;
  const std::string root = tmp.path() + "/storage";
  auto d = open_driver(root, "overlay2");
  Fd fd = d->begin_layer("base", "");
  fd.reset();
  d->commit_layer("base");
  const std::string links = root + "/overlay2/l";
  ASSERT_EQ(count_entries(links), 1U);
  std::filesystem::create_directory_symlink("../layers/gone/diff", links + "/DANGLINGLINK");
  write_text(links + "/NOTALINK", "kept");  // not ours to judge: left alone
  d = open_driver(root, "overlay2");
  d->cleanup_incomplete();
  EXPECT_FALSE(std::filesystem::is_symlink(links + "/DANGLINGLINK"));
  EXPECT_TRUE(std::filesystem::exists(links + "/NOTALINK"));
  EXPECT_EQ(count_entries(links), 2U);
  EXPECT_TRUE(d->has_layer("base"));
  const std::string r = d->create_rootfs("c", "base");  // base's own link still works
  EXPECT_EQ(mounts_below(r), std::vector<std::string>{r});
  d->remove_rootfs("c");
}

TEST(Overlay, LayerAndContainerDirsAreOrlovTopDirsWhereTheFileSystemHasTheFlag) {
  // ext4 (this machine's /tmp) has chattr +T; where a file system lacks it the driver goes on.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (overlay)";
  TempDir tmp;
  auto flags_of = [](const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int flags = -1;
    if (!fd || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) return -1;
    return flags;
  };
  const std::string probe = tmp.path() + "/probe";
  std::filesystem::create_directory(probe);
  {
    Fd fd(::open(probe.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int flags = 0;
    ASSERT_TRUE(fd);
    if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) GTEST_SKIP() << "no inode flags on " << probe;
    flags |= FS_TOPDIR_FL;
    if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) != 0) GTEST_SKIP() << "no FS_TOPDIR_FL on " << probe;
  }
  const std::string root = tmp.path() + "/storage";
  auto d = open_driver(root, "overlay2");
  for (const char* sub : {"/overlay2/layers", "/overlay2/containers"}) {
    int flags = flags_of(root + sub);
    ASSERT_NE(flags, -1) << root + sub;
    EXPECT_NE(flags & FS_TOPDIR_FL, 0) << root + sub;
  }
  Fd fd = d->begin_layer("base", "");
  fd.reset();
  d->commit_layer("base");
  EXPECT_TRUE(d->has_layer("base"));
}

TEST(Overlay, LongLayerChainsMount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts)";
  TempDir tmp;
  // A long root path makes the absolute lowerdir list overflow a page.
  const std::string root = tmp.path() + "/" + std::string(60, 'p') + "/storage";
  auto d = open_driver(root, "overlay2");
  constexpr int kLayers = 100;
  std::string parent;
  for (int i = 0; i < kLayers; ++i) {
    std::string id = "l" + std::to_string(i);
    Fd fd = d->begin_layer(id, parent);
    extract(fd.get(), make_tar({file("f" + std::to_string(i), std::to_string(i))}), d->whiteout_mode());
    d->commit_layer(id);
    parent = id;
  }
  const std::string r = d->create_rootfs("c", parent);
  auto v = view(r);
  EXPECT_EQ(v.size(), static_cast<std::size_t>(kLayers));
  EXPECT_EQ(v.at("f0"), "f 644 0");
  EXPECT_EQ(v.at("f99"), "f 644 99");
  d->remove_rootfs("c");
  EXPECT_TRUE(mounts_below(tmp.path()).empty());
}

}  // namespace
}  // namespace bocker::storage
