// TarWriter: trees written and read back by our reader/extractor, python3 tarfile and GNU tar.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/runtime/error.hpp"
#include "tar_test_support.hpp"

namespace bocker::image {
namespace {

using testing::read_text;
using testing::TempDir;
using testing::write_text;
namespace fs = std::filesystem;

const std::string kLongDir = std::string(120, 'd');
const std::string kLongFile = kLongDir + "/" + std::string(150, 'f');
const std::string kLongTarget = std::string(200, 't');

class TarWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = tmp_ / "src";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
    src_fd_.reset(::open(src_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(src_fd_.valid());
  }

  std::string s(const std::string& rel) const { return src_ + "/" + rel; }

  // A tree with every kind of object the writer handles.
  void build_tree() {
    const bool root = ::geteuid() == 0;
    write_text(s("a.txt"), "alpha\n");
    ASSERT_EQ(::setxattr(s("a.txt").c_str(), "user.x", "42", 2, 0), 0);
    fs::create_directories(s("bin"));
    write_text(s("bin/su"), "suid binary");
    if (root) {
      ASSERT_EQ(::chown(s("bin/su").c_str(), 1000, 3000000), 0);
    }
    ASSERT_EQ(::chmod(s("bin/su").c_str(), 04755), 0);
    ASSERT_EQ(::link(s("bin/su").c_str(), s("bin/su2").c_str()), 0);
    fs::create_directories(s(kLongDir));
    write_text(s(kLongFile), "long");
    fs::create_symlink("a.txt", s("link"));
    fs::create_symlink(kLongTarget, s("longlink"));
    ASSERT_EQ(::mkfifo(s("fifo").c_str(), 0640), 0);
    if (root) {
      ASSERT_EQ(::mknod(s("null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    }
    std::string big(300000, '\0');
    std::mt19937 rng(7);
    for (auto& c : big) c = static_cast<char>(rng());
    write_text(s("big.bin"), big);
    fs::create_directories(s("empty"));
    ASSERT_EQ(::chmod(s("empty").c_str(), 0700), 0);
    timespec ts[2] = {{1400000000, 0}, {1400000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, s("empty").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, s("a.txt").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  }

  std::vector<std::byte> write_tree() {
    std::vector<std::byte> out;
    TarWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
    w.add_tree(src_fd_.get());
    w.close();
    EXPECT_EQ(w.bytes_written(), out.size());
    EXPECT_EQ(out.size() % kTarBlock, 0u);
    return out;
  }

  TempDir tmp_;
  std::string src_;
  Fd src_fd_;
};

TEST_F(TarWriterTest, TreeRoundTripsThroughTheExtractor) {
  build_tree();
  auto tar = write_tree();
  std::string dst = tmp_ / "dst";
  ASSERT_EQ(::mkdir(dst.c_str(), 0755), 0);
  Fd dst_fd(::open(dst.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dst_fd.valid());
  LayerExtractor ex(dst_fd.get());
  TarReader r(ex);
  testing::feed_all(r, tar, 4000);

  std::size_t compared = 0;
  for (auto it = fs::recursive_directory_iterator(src_); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(src_).string();
    SCOPED_TRACE(rel);
    struct stat a {
    }, b{};
    ASSERT_EQ(::lstat(it->path().c_str(), &a), 0);
    ASSERT_EQ(::lstat((dst + "/" + rel).c_str(), &b), 0) << "missing after round trip";
    EXPECT_EQ(a.st_mode, b.st_mode);
    EXPECT_EQ(a.st_uid, b.st_uid);
    EXPECT_EQ(a.st_gid, b.st_gid);
    EXPECT_EQ(a.st_rdev, b.st_rdev);
    if (!S_ISLNK(a.st_mode)) {
      EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    }
    if (S_ISREG(a.st_mode)) {
      EXPECT_EQ(read_text(it->path()), read_text(dst + "/" + rel));
    }
    if (S_ISLNK(a.st_mode)) {
      EXPECT_EQ(fs::read_symlink(it->path()), fs::read_symlink(dst + "/" + rel));
    }
    ++compared;
  }
  EXPECT_GE(compared, 11u);
  struct stat su {
  }, su2{};
  ASSERT_EQ(::lstat((dst + "/bin/su").c_str(), &su), 0);
  ASSERT_EQ(::lstat((dst + "/bin/su2").c_str(), &su2), 0);
  EXPECT_EQ(su.st_ino, su2.st_ino);
  char v[8] = {};
  ASSERT_EQ(::getxattr((dst + "/a.txt").c_str(), "user.x", v, sizeof v), 2);
  EXPECT_EQ(std::string(v), "42");
}

TEST_F(TarWriterTest, PythonTarfileReadsTheStream) {
  if (!testing::have_python()) GTEST_SKIP() << "python3 not available";
  build_tree();
  auto tar = write_tree();
  std::string path = tmp_ / "out.tar";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(tar.data(), 1, tar.size(), f), tar.size());
    std::fclose(f);
  }
  std::string list = tmp_ / "list.txt";
  std::string cmd =
      "python3 -c \"import tarfile,sys\n"
      "t = tarfile.open(sys.argv[1])\n"
      "open(sys.argv[2], 'w').write(''.join('%s %s %s\\n' % (m.type.decode(), m.name, m.linkname)"
      " for m in t))\" " +
      path + " " + list;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string got = read_text(list);
  EXPECT_NE(got.find("0 a.txt \n"), std::string::npos) << got;
  EXPECT_NE(got.find("1 bin/su2 bin/su\n"), std::string::npos) << got;
  EXPECT_NE(got.find("0 " + kLongFile + " \n"), std::string::npos) << got;
  EXPECT_NE(got.find("2 longlink " + kLongTarget + "\n"), std::string::npos) << got;
  EXPECT_NE(got.find("5 empty \n"), std::string::npos) << got;
  EXPECT_NE(got.find("6 fifo \n"), std::string::npos) << got;
  if (std::system("command -v tar >/dev/null") == 0) {
    EXPECT_EQ(std::system(("tar -tvf " + path + " >/dev/null").c_str()), 0) << "GNU tar rejects the stream";
  }
}

TEST_F(TarWriterTest, ChangesBecomeEntriesAndWhiteouts) {
  write_text(s("a.txt"), "alpha");
  fs::create_directories(s("etc"));
  write_text(s("etc/hosts"), "hosts");
  std::vector<std::byte> out;
  TarWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  std::vector<TarChange> changes = {{TarChange::Kind::kModify, "etc"},
                                    {TarChange::Kind::kAdd, "etc/hosts"},
                                    {TarChange::Kind::kDelete, "gone"},
                                    {TarChange::Kind::kDelete, "etc/old"},
                                    {TarChange::Kind::kAdd, "a.txt"}};
  w.write_changes(src_fd_.get(), changes);
  w.close();
  auto e = testing::parse(out);
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].header.name, "etc/");
  EXPECT_EQ(e[0].header.type, tar_type::kDirectory);
  EXPECT_EQ(e[1].header.name, "etc/hosts");
  EXPECT_EQ(e[1].data, "hosts");
  EXPECT_EQ(e[2].header.name, ".wh.gone");
  EXPECT_EQ(e[3].header.name, "etc/.wh.old");
  EXPECT_EQ(e[4].header.name, "a.txt");
  EXPECT_THROW(w.add_whiteout("../x"), Error);
  EXPECT_THROW(w.add_path(src_fd_.get(), "/etc/passwd"), Error);
}

TEST_F(TarWriterTest, PaxForLargeNumbersAndXattrsReadsBack) {
  std::vector<std::byte> out;
  TarWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  TarHeader h;
  h.name = std::string(250, 'n');
  h.uid = 3000000;
  h.gid = 7;
  h.mtime_sec = -5;
  h.mode = 06755;
  h.size = 3;
  h.xattrs["security.capability"] = std::string("\x01\x00\x00\x02", 4);
  w.write_header(h);
  w.write_data(std::as_bytes(std::span("abc", 3)));
  w.end_entry();
  w.close();
  auto e = testing::parse(out);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].header.name, h.name);
  EXPECT_EQ(e[0].header.uid, 3000000);
  EXPECT_EQ(e[0].header.mtime_sec, -5);
  EXPECT_EQ(e[0].header.mode, 06755u);
  EXPECT_EQ(e[0].header.xattrs, h.xattrs);
  EXPECT_EQ(e[0].data, "abc");
}

TEST_F(TarWriterTest, MisuseIsReported) {
  std::vector<std::byte> out;
  TarWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  TarHeader h;
  h.name = "f";
  h.size = 2;
  w.write_header(h);
  EXPECT_THROW(w.write_data(std::as_bytes(std::span("abc", 3))), Error);
  EXPECT_THROW(w.end_entry(), Error);  // 2 bytes missing
  EXPECT_THROW(w.close(), Error);
  w.write_data(std::as_bytes(std::span("ab", 2)));
  w.end_entry();
  w.close();
  EXPECT_THROW(w.write_header(h), Error);
}

}  // namespace
}  // namespace bocker::image
