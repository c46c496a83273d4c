// LayerExtractor: real archives, whiteout modes, replacement rules, and attacks that try to write
// outside the layer root. Every hostile case checks that a sentinel directory beside the root (and
// /etc/passwd) is left exactly as it was.
#include "bocker/image/extract.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "bocker/runtime/error.hpp"
#include "tar_test_support.hpp"

namespace bocker::image {
namespace {

using testing::make_tar;
using testing::read_text;
using testing::TempDir;
namespace fs = std::filesystem;

std::set<std::string> tree(const std::string& dir) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    out.insert(it->path().lexically_relative(dir).string());
  }
  return out;
}

class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_python()) GTEST_SKIP() << "python3 with tarfile is needed to craft archives";
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    testing::write_text(outside_ + "/sentinel", "keep me");
    root_fd_.reset(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    passwd_before_ = read_text("/etc/passwd");
  }

  // Nothing outside the root changed: the sentinel dir holds exactly its file, the base dir holds
  // only root and outside, and /etc/passwd is unchanged.
  void expect_outside_untouched() {
    EXPECT_EQ(tree(outside_), std::set<std::string>{"sentinel"});
    EXPECT_EQ(read_text(outside_ + "/sentinel"), "keep me");
    struct stat st {};
    ASSERT_EQ(::stat((outside_ + "/sentinel").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
    std::set<std::string> top;
    for (auto& e : fs::directory_iterator(base_.path())) top.insert(e.path().filename().string());
    EXPECT_EQ(top, (std::set<std::string>{"root", "outside"}));
    EXPECT_EQ(read_text("/etc/passwd"), passwd_before_);
  }

  ExtractStats extract(const std::vector<std::byte>& tar, ExtractOptions opts = {}) {
    LayerExtractor ex(root_fd_.get(), opts);
    TarReader r(ex);
    testing::feed_all(r, tar, 1000);
    return ex.stats();
  }

  // Extraction fails with an error whose message contains every needle; nothing leaks outside.
  void expect_refused(const std::vector<std::byte>& tar, std::initializer_list<std::string> needles,
                      ExtractOptions opts = {}) {
    try {
      extract(tar, opts);
      ADD_FAILURE() << "archive was extracted";
    } catch (const std::exception& e) {
      for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
    expect_outside_untouched();
  }

  std::string in_root(const std::string& rel) const { return root_ + "/" + rel; }

  TempDir base_;
  TempDir scratch_;  // generated scripts and archives
  std::string root_, outside_, passwd_before_;
  Fd root_fd_;
};

// Python helper prepended to archive scripts: add(name, type, data=b'', **fields).
const std::string kAdd = R"(
tf = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
def add(name, type=tarfile.REGTYPE, data=b'', mode=0o644, link='', uid=0, gid=0, mtime=1500000000, major=0, minor=0, pax=None):
    ti = tarfile.TarInfo(name); ti.type = type; ti.mode = mode; ti.linkname = link; ti.uid = uid; ti.gid = gid
    ti.mtime = mtime; ti.devmajor = major; ti.devminor = minor; ti.size = len(data)
    if pax: ti.pax_headers = pax
    tf.addfile(ti, io.BytesIO(data) if data else None)
)";

std::vector<std::byte> archive(const TempDir& d, const std::string& adds) {
  return make_tar(d, kAdd + adds + "\ntf.close()\n");
}

TEST_F(ExtractTest, AllEntryTypesWithOwnersModesXattrsAndTimes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for chown and mknod";
  auto tar = archive(scratch_, R"(
add('d/', tarfile.DIRTYPE, mode=0o750, uid=1, gid=2, mtime=1600000000)
add('d/f', data=b'hello', mode=0o4755, uid=1000, gid=1000, pax={'SCHILY.xattr.user.k': 'v'})
add('d/l', tarfile.SYMTYPE, link='f', uid=7, gid=8)
add('d/h', tarfile.LNKTYPE, link='d/f')
add('dev/null', tarfile.CHRTYPE, mode=0o666, major=1, minor=3)
add('p', tarfile.FIFOTYPE, mode=0o640)
add('sticky/', tarfile.DIRTYPE, mode=0o1777)
add('sg', data=b'x', mode=0o2755, gid=50)
add('./', tarfile.DIRTYPE, mode=0o700)
)");
  auto stats = extract(tar);
  EXPECT_EQ(stats.files, 2u);
  EXPECT_EQ(stats.hardlinks, 1u);
  EXPECT_EQ(stats.symlinks, 1u);
  EXPECT_EQ(stats.specials, 2u);
  struct stat st {};
  ASSERT_EQ(::lstat(in_root("d/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 04755u);  // setuid survives the chown
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(read_text(in_root("d/f")), "hello");
  char val[16] = {};
  ASSERT_EQ(::getxattr(in_root("d/f").c_str(), "user.k", val, sizeof val), 1);
  EXPECT_EQ(std::string(val), "v");
  struct stat hl {};
  ASSERT_EQ(::lstat(in_root("d/h").c_str(), &hl), 0);
  EXPECT_EQ(hl.st_ino, st.st_ino);
  ASSERT_EQ(::lstat(in_root("d/l").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(fs::read_symlink(in_root("d/l")).string(), "f");
  ASSERT_EQ(::lstat(in_root("dev/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(::lstat(in_root("p").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::lstat(in_root("sticky").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_EQ(::lstat(in_root("sg").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02755u);
  EXPECT_EQ(st.st_gid, 50u);
  // Directory metadata, with its mtime applied after its children were written.
  ASSERT_EQ(::lstat(in_root("d").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, 1u);
  EXPECT_EQ(st.st_gid, 2u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  // "./" does not change the layer root.
  ASSERT_EQ(::lstat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  expect_outside_untouched();
}

TEST_F(ExtractTest, MissingParentsAreCreated) {
  auto stats = extract(archive(scratch_, "add('a/b/c/file', data=b'deep')"));
  EXPECT_EQ(read_text(in_root("a/b/c/file")), "deep");
  EXPECT_TRUE(fs::is_directory(in_root("a/b")));
  EXPECT_EQ(stats.entries, 1u);
}

TEST_F(ExtractTest, ReplacementFollowsDockerRules) {
  fs::create_directories(in_root("dir_over_dir/keep"));
  fs::create_directories(in_root("file_over_dir/child"));
  testing::write_text(in_root("dir_over_file"), "old");
  testing::write_text(in_root("file_over_file"), "old");
  fs::create_symlink("/nonexistent", in_root("dir_over_symlink"));
  extract(archive(scratch_, R"(
add('dir_over_dir/', tarfile.DIRTYPE, mode=0o711)
add('file_over_dir', data=b'new')
add('dir_over_file/', tarfile.DIRTYPE)
add('file_over_file', data=b'new')
add('dir_over_symlink/', tarfile.DIRTYPE)
)"));
  EXPECT_TRUE(fs::is_directory(in_root("dir_over_dir/keep")));  // kept, metadata updated
  EXPECT_EQ(fs::status(in_root("dir_over_dir")).permissions(), fs::perms(0711));
  EXPECT_EQ(read_text(in_root("file_over_dir")), "new");
  EXPECT_TRUE(fs::is_directory(in_root("dir_over_file")));
  EXPECT_EQ(read_text(in_root("file_over_file")), "new");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(in_root("dir_over_symlink"))));
}

TEST_F(ExtractTest, WhiteoutsApplyDeletesLowerContent) {
  fs::create_directories(in_root("lower/dir"));
  testing::write_text(in_root("lower/a"), "a");
  testing::write_text(in_root("lower/b"), "b");
  testing::write_text(in_root("lower/dir/x"), "x");
  fs::create_directories(in_root("opq/sub"));
  testing::write_text(in_root("opq/old"), "old");
  auto stats = extract(archive(scratch_, R"(
add('lower/.wh.a')
add('lower/.wh.dir')
add('lower/.wh.missing')
add('opq/new', data=b'new')
add('opq/.wh..wh..opq')
add('opq/later', data=b'later')
add('.wh..wh.plnk/123')
)"));
  EXPECT_FALSE(fs::exists(in_root("lower/a")));
  EXPECT_FALSE(fs::exists(in_root("lower/dir")));
  EXPECT_EQ(read_text(in_root("lower/b")), "b");
  EXPECT_EQ(tree(in_root("opq")), (std::set<std::string>{"new", "later"}));
  EXPECT_EQ(stats.whiteouts, 4u);
}

TEST_F(ExtractTest, WhiteoutsOverlayBecomeDevicesAndOpaqueXattr) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for whiteout devices and trusted.* xattrs";
  testing::write_text(in_root("gone"), "lower copy in the upper dir");
  extract(archive(scratch_, R"(
add('.wh.gone')
add('d/', tarfile.DIRTYPE)
add('d/.wh..wh..opq')
add('d/f', data=b'f')
)"),
          {.whiteouts = WhiteoutMode::kOverlay});
  struct stat st {};
  ASSERT_EQ(::lstat(in_root("gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4] = {};
  ASSERT_EQ(::lgetxattr(in_root("d").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_FALSE(fs::exists(in_root("d/.wh..wh..opq")));
  EXPECT_EQ(read_text(in_root("d/f")), "f");
}

TEST_F(ExtractTest, WhiteoutsKeptAsPlainFiles) {
  testing::write_text(in_root("gone"), "still here");
  extract(archive(scratch_, "add('.wh.gone')\nadd('d/.wh..wh..opq')"), {.whiteouts = WhiteoutMode::kKeep});
  EXPECT_TRUE(fs::is_regular_file(in_root(".wh.gone")));
  EXPECT_TRUE(fs::is_regular_file(in_root("d/.wh..wh..opq")));
  EXPECT_EQ(read_text(in_root("gone")), "still here");
}

TEST_F(ExtractTest, SkippedDevicesAndXattrsAreCountedAsWarnings) {
  auto stats = extract(archive(scratch_, R"(
add('dev/sda', tarfile.BLKTYPE, mode=0o660, major=8, minor=0)
add('l', tarfile.SYMTYPE, link='x', pax={'SCHILY.xattr.user.onlink': 'v'})
)"),
                       {.devices = false});
  EXPECT_FALSE(fs::exists(in_root("dev/sda")));
  EXPECT_EQ(stats.skipped_devices, 1u);
  EXPECT_EQ(stats.skipped_xattrs, 1u);  // user.* xattrs are not allowed on symlinks
  ASSERT_EQ(stats.warnings.size(), 2u);
  EXPECT_NE(stats.warnings[0].find("dev/sda"), std::string::npos);
  EXPECT_NE(stats.warnings[1].find("user.onlink"), std::string::npos);
}

TEST_F(ExtractTest, FileUsedAsParentFailsWithEntryAndErrno) {
  expect_refused(archive(scratch_, "add('f', data=b'1')\nadd('f/x', data=b'2')"),
                 {"extract entry 'f/x'", "parent 'f'", "Not a directory"});
}

TEST_F(ExtractTest, UnsupportedTypeIsRefused) {
  expect_refused(archive(scratch_, "add('sparse', tarfile.CONTTYPE.__class__(b'V'))"),
                 {"sparse", "unsupported"});
}

// ---- attacks ----

TEST_F(ExtractTest, DotDotNameIsRefused) {
  expect_refused(archive(scratch_, "add('../outside/evil', data=b'x')"), {"../outside/evil", "escapes"});
  expect_refused(archive(scratch_, "add('a/../../outside/evil', data=b'x')"), {"a/../../outside/evil"});
}

TEST_F(ExtractTest, AbsoluteNameIsRefused) {
  std::string abs = outside_ + "/evil";
  expect_refused(archive(scratch_, "add('" + abs + "', data=b'x')"), {abs, "absolute"});
}

TEST_F(ExtractTest, SymlinkEscapeThenWriteThroughItIsRefusedWhenTargetMissing) {
  // a -> /etc, then a/passwd, into an empty root: "a" resolves to <root>/etc, which does not exist.
  expect_refused(archive(scratch_, R"(
add('a', tarfile.SYMTYPE, link='/etc')
add('a/passwd', data=b'root::0:0::/:/bin/sh\n')
)"),
                 {"a/passwd", "parent 'a'"});
  EXPECT_FALSE(fs::exists(in_root("etc")));
}

TEST_F(ExtractTest, SymlinkEscapeThenWriteThroughItStaysInRoot) {
  // With <root>/etc present (a lower layer), a/passwd lands in <root>/etc/passwd, never in /etc.
  fs::create_directories(in_root("etc"));
  fs::create_directories(in_root(outside_.substr(1)));
  extract(archive(scratch_, R"(
add('a', tarfile.SYMTYPE, link='/etc')
add('a/passwd', data=b'root::0:0::/:/bin/sh\n')
add('o', tarfile.SYMTYPE, link=')" +
                                outside_ + R"(')
add('o/evil', data=b'x')
)"));
  EXPECT_EQ(read_text(in_root("etc/passwd")), "root::0:0::/:/bin/sh\n");
  EXPECT_EQ(read_text(in_root(outside_.substr(1) + "/evil")), "x");
  expect_outside_untouched();
}

TEST_F(ExtractTest, SymlinkToParentChainsStayInRoot) {
  extract(archive(scratch_, R"(
add('up', tarfile.SYMTYPE, link='..')
add('up2', tarfile.SYMTYPE, link='up/up/up/../..')
add('rel', tarfile.SYMTYPE, link='../../../../../outside')
add('up2/outside/evil1', data=b'1')
add('rel/evil2', data=b'2')
add('up/up/outside/evil3', data=b'3')
)"));
  EXPECT_EQ(read_text(in_root("outside/evil1")), "1");
  EXPECT_EQ(read_text(in_root("outside/evil2")), "2");
  EXPECT_EQ(read_text(in_root("outside/evil3")), "3");
  expect_outside_untouched();
}

TEST_F(ExtractTest, HardlinkToEtcPasswdIsRefused) {
  expect_refused(archive(scratch_, "add('h', tarfile.LNKTYPE, link='/etc/passwd')"), {"'h'", "/etc/passwd"});
}

TEST_F(ExtractTest, HardlinkToParentPathIsRefused) {
  expect_refused(archive(scratch_, "add('h', tarfile.LNKTYPE, link='../outside/sentinel')"),
                 {"'h'", "../outside/sentinel"});
}

TEST_F(ExtractTest, HardlinkThroughSymlinkOrToUnknownTargetIsRefused) {
  expect_refused(archive(scratch_, "add('s', tarfile.SYMTYPE, link='" + outside_ + "')\n" +
                                       "add('h', tarfile.LNKTYPE, link='s/sentinel')"),
                 {"'h'", "s/sentinel", "not a file extracted earlier"});
  expect_refused(archive(scratch_, "add('d/', tarfile.DIRTYPE)\nadd('h2', tarfile.LNKTYPE, link='d')"),
                 {"'h2'"});
}

TEST_F(ExtractTest, WriteOverEarlierSymlinkReplacesTheSymlink) {
  extract(archive(scratch_, R"(
add('f', tarfile.SYMTYPE, link=')" +
                                outside_ + R"(/newfile')
add('f', data=b'replaced')
add('g', tarfile.SYMTYPE, link=')" +
                                outside_ + R"(/sentinel')
add('g', data=b'also replaced')
add('n', tarfile.SYMTYPE, link=')" +
                                outside_ + R"(')
add('n/', tarfile.DIRTYPE)
)"));
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(in_root("f"))));
  EXPECT_EQ(read_text(in_root("f")), "replaced");
  EXPECT_EQ(read_text(in_root("g")), "also replaced");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(in_root("n"))));
  expect_outside_untouched();
}

TEST_F(ExtractTest, WhiteoutsThroughSymlinksStayInRoot) {
  // Whiteouts below a symlink to the sentinel dir resolve inside the root: nothing there to delete.
  extract(archive(scratch_, R"(
add('o', tarfile.SYMTYPE, link=')" +
                                outside_ + R"(')
add('o/.wh.sentinel')
add('rel', tarfile.SYMTYPE, link='../outside')
add('rel/.wh.sentinel')
add('up', tarfile.SYMTYPE, link='..')
add('up/.wh.outside')
)"));
  expect_outside_untouched();
  // An opaque marker below a dangling symlink is refused rather than followed.
  expect_refused(
      archive(scratch_, "add('o2', tarfile.SYMTYPE, link='" + outside_ + "')\nadd('o2/.wh..wh..opq')"),
      {"o2/.wh..wh..opq"});
  // With the target present inside the root, the opaque dir emptied is the one inside the root.
  fs::create_directories(in_root(outside_.substr(1)));
  testing::write_text(in_root(outside_.substr(1) + "/lower"), "lower");
  extract(archive(scratch_, "add('o3', tarfile.SYMTYPE, link='" + outside_ + "')\nadd('o3/.wh..wh..opq')"));
  EXPECT_FALSE(fs::exists(in_root(outside_.substr(1) + "/lower")));
  expect_outside_untouched();
  expect_refused(archive(scratch_, "add('x/.wh..')"), {"x/.wh..", "malformed whiteout"});
  expect_refused(archive(scratch_, "add('../.wh.outside')"), {"../.wh.outside"});
}

TEST_F(ExtractTest, TruncatedArchiveFailsNamingTheEntry) {
  auto tar = archive(scratch_, "add('big', data=b'z' * 5000)");
  tar.resize(512 + 2000);  // the header and part of the data
  expect_refused(tar, {"big", "truncated"});
}

TEST_F(ExtractTest, BadChecksumFailsNamingTheEntry) {
  auto tar = archive(scratch_, "add('chk', data=b'1')");
  tar[136 + 2] = std::byte{'5'};
  expect_refused(tar, {"chk", "checksum"});
  EXPECT_FALSE(fs::exists(in_root("chk")));
}

TEST_F(ExtractTest, HugePaxHeaderFailsNamingTheEntry) {
  expect_refused(archive(scratch_, "add('bomb', pax={'comment': 'A' * (3 << 20)})"), {"bomb", "exceeds"});
  EXPECT_FALSE(fs::exists(in_root("bomb")));
}

// start_writeback only starts disk writes early: big, medium and tiny files come out the same.
TEST_F(ExtractTest, StartWritebackKeepsContent) {
  auto tar = archive(scratch_, R"(
big = (bytes(range(256)) * 36865)[:9 * 1024 * 1024 + 123]
add('d/', tarfile.DIRTYPE)
add('d/big', data=big)
add('d/medium', data=big[:300 * 1024])
add('tiny', data=b'tiny')
add('empty')
)");
  ExtractOptions opts;
  opts.start_writeback = true;
  ExtractStats stats = extract(tar, opts);
  EXPECT_EQ(stats.files, 4U);
  const std::size_t big_size = 9 * 1024 * 1024 + 123;
  EXPECT_EQ(stats.bytes, big_size + 300 * 1024 + 4);
  std::string big = read_text(in_root("d/big"));
  ASSERT_EQ(big.size(), big_size);
  bool same = true;
  for (std::size_t i = 0; i < big.size() && same; ++i) {
    same = static_cast<unsigned char>(big[i]) == i % 256;
  }
  EXPECT_TRUE(same) << "d/big differs from what the archive holds";
  EXPECT_EQ(read_text(in_root("d/medium")), big.substr(0, 300 * 1024));
  EXPECT_EQ(read_text(in_root("tiny")), "tiny");
  EXPECT_EQ(fs::file_size(in_root("empty")), 0U);
  expect_outside_untouched();
}

TEST_F(ExtractTest, AlpineMinirootfs) {
  const std::string src = std::string(BOCKER_SOURCE_DIR) + "/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz";
  if (!fs::exists(src)) GTEST_SKIP() << src << " not present";
  if (std::system("command -v gzip >/dev/null") != 0) GTEST_SKIP() << "gzip not installed";
  std::FILE* p = ::popen(("gzip -dc " + src).c_str(), "r");
  ASSERT_NE(p, nullptr);
  ExtractStats stats;
  try {
    stats = extract_layer(root_fd_.get(), ::fileno(p));
  } catch (...) {
    ::pclose(p);
    throw;
  }
  ASSERT_EQ(::pclose(p), 0);
  struct stat st {};
  ASSERT_EQ(::lstat(in_root("bin/busybox").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_GT(st.st_size, 100000);
  ASSERT_EQ(::lstat(in_root("bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(fs::read_symlink(in_root("bin/sh")).string(), "/bin/busybox");
  EXPECT_NE(read_text(in_root("etc/os-release")).find("Alpine"), std::string::npos);
  ASSERT_EQ(::lstat(in_root("tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_GT(stats.entries, 400u);
  EXPECT_GT(stats.symlinks, 300u);
  expect_outside_untouched();
}

TEST(NormalizeEntryPath, FoldsDotsAndRefusesEscapes) {
  std::string out;
  EXPECT_TRUE(normalize_entry_path("./a//b/./c/", out));
  EXPECT_EQ(out, "a/b/c");
  EXPECT_TRUE(normalize_entry_path("a/b/../c", out));
  EXPECT_EQ(out, "a/c");
  EXPECT_TRUE(normalize_entry_path("./", out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(normalize_entry_path("/etc/passwd", out));
  EXPECT_FALSE(normalize_entry_path("..", out));
  EXPECT_FALSE(normalize_entry_path("a/../../b", out));
}

}  // namespace
}  // namespace bocker::image
