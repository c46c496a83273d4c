// TarReader against archives written by python3's tarfile (ustar, GNU, PAX) and hostile ones.
#include <gtest/gtest.h>

#include <string>

#include "bocker/image/tar.hpp"
#include "bocker/runtime/error.hpp"
#include "tar_test_support.hpp"

namespace bocker::image {
namespace {

using testing::make_tar;
using testing::parse;
using testing::TempDir;

class TarReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::have_python()) GTEST_SKIP() << "python3 with tarfile is needed to craft archives";
  }
  // Parses and expects bocker::Error(kInvalid) whose message contains every needle.
  void expect_invalid(const std::vector<std::byte>& tar, std::initializer_list<std::string> needles) {
    try {
      parse(tar);
      FAIL() << "archive was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
      for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }
  TempDir tmp_;
};

constexpr const char* kBasic = R"(
tf = tarfile.open(out, 'w', format=tarfile.%s)
def add(name, type, mode=0o644, data=b'', **kw):
    ti = tarfile.TarInfo(name); ti.type = type; ti.mode = mode; ti.uid = kw.get('uid', 0); ti.gid = kw.get('gid', 0)
    ti.mtime = kw.get('mtime', 1700000000); ti.linkname = kw.get('link', '')
    ti.devmajor = kw.get('major', 0); ti.devminor = kw.get('minor', 0); ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data else None)
add('etc/', tarfile.DIRTYPE, 0o755)
add('etc/hosts', tarfile.REGTYPE, 0o644, b'127.0.0.1 localhost\n', uid=1000, gid=1001)
add('bin/su', tarfile.REGTYPE, 0o4755, b'x' * 1000)
add('bin/sh', tarfile.SYMTYPE, 0o777, link='/bin/busybox')
add('bin/su2', tarfile.LNKTYPE, 0o4755, link='bin/su')
add('dev/null', tarfile.CHRTYPE, 0o666, major=1, minor=3)
add('dev/sda', tarfile.BLKTYPE, 0o660, major=8, minor=0)
add('run/fifo', tarfile.FIFOTYPE, 0o600)
add('tmp/', tarfile.DIRTYPE, 0o1777)
tf.close()
)";

std::string fmt(const char* tmpl, const char* format) {
  std::string s(tmpl);
  s.replace(s.find("%s"), 2, format);
  return s;
}

void check_basic(const std::vector<testing::Recorded>& e) {
  ASSERT_EQ(e.size(), 9u);
  EXPECT_EQ(e[0].header.name, "etc/");
  EXPECT_EQ(e[0].header.type, tar_type::kDirectory);
  EXPECT_EQ(e[0].header.mode, 0755u);
  EXPECT_EQ(e[1].header.name, "etc/hosts");
  EXPECT_EQ(e[1].header.type, tar_type::kRegular);
  EXPECT_EQ(e[1].data, "127.0.0.1 localhost\n");
  EXPECT_EQ(e[1].header.uid, 1000);
  EXPECT_EQ(e[1].header.gid, 1001);
  EXPECT_EQ(e[1].header.mtime_sec, 1700000000);
  EXPECT_EQ(e[2].header.mode, 04755u);
  EXPECT_EQ(e[2].data, std::string(1000, 'x'));
  EXPECT_EQ(e[3].header.type, tar_type::kSymlink);
  EXPECT_EQ(e[3].header.linkname, "/bin/busybox");
  EXPECT_EQ(e[4].header.type, tar_type::kHardlink);
  EXPECT_EQ(e[4].header.linkname, "bin/su");
  EXPECT_EQ(e[4].header.size, 0);
  EXPECT_EQ(e[5].header.type, tar_type::kChar);
  EXPECT_EQ(e[5].header.devmajor, 1u);
  EXPECT_EQ(e[5].header.devminor, 3u);
  EXPECT_EQ(e[6].header.type, tar_type::kBlock);
  EXPECT_EQ(e[6].header.devmajor, 8u);
  EXPECT_EQ(e[7].header.type, tar_type::kFifo);
  EXPECT_EQ(e[8].header.mode, 01777u);
}

TEST_F(TarReaderTest, UstarGnuAndPaxArchivesParse) {
  for (const char* f : {"USTAR_FORMAT", "GNU_FORMAT", "PAX_FORMAT"}) {
    SCOPED_TRACE(f);
    auto tar = make_tar(tmp_, fmt(kBasic, f));
    check_basic(parse(tar));
  }
}

TEST_F(TarReaderTest, ChunkBoundariesDoNotMatter) {
  auto tar = make_tar(tmp_, fmt(kBasic, "PAX_FORMAT"));
  for (std::size_t chunk : {1u, 7u, 511u, 512u, 513u, 4096u}) {
    SCOPED_TRACE(chunk);
    check_basic(parse(tar, chunk));
  }
}

TEST_F(TarReaderTest, GnuLongNameAndLongLink) {
  std::string name = std::string(150, 'n') + "/" + std::string(120, 'f');
  std::string link = std::string(180, 'l');
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
ti = tarfile.TarInfo(')" + name +
                                R"('); ti.size = 3
tf.addfile(ti, io.BytesIO(b'abc'))
ti = tarfile.TarInfo('s'); ti.type = tarfile.SYMTYPE; ti.linkname = ')" +
                                link + R"('
tf.addfile(ti)
tf.close())");
  auto e = parse(tar, 100);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].header.name, name);
  EXPECT_EQ(e[0].data, "abc");
  EXPECT_EQ(e[1].header.name, "s");
  EXPECT_EQ(e[1].header.linkname, link);
}

TEST_F(TarReaderTest, PaxPathLinkpathXattrsFractionalMtimeAndBigUid) {
  std::string name = std::string(300, 'p');
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
ti = tarfile.TarInfo(')" + name +
                                R"('); ti.size = 2; ti.mtime = 1234.5; ti.uid = 3000000; ti.gid = 5000000
ti.pax_headers = {'SCHILY.xattr.user.mime': 'text/plain', 'SCHILY.xattr.security.capability': '\x01\x00',
                  'uname': 'ignored', 'atime': '1.5'}
tf.addfile(ti, io.BytesIO(b'hi'))
ti = tarfile.TarInfo('l'); ti.type = tarfile.SYMTYPE; ti.linkname = 'x' * 200
tf.addfile(ti)
tf.close())");
  auto e = parse(tar);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].header.name, name);
  EXPECT_EQ(e[0].data, "hi");
  EXPECT_EQ(e[0].header.mtime_sec, 1234);
  EXPECT_EQ(e[0].header.mtime_nsec, 500000000u);
  EXPECT_EQ(e[0].header.uid, 3000000);
  EXPECT_EQ(e[0].header.gid, 5000000);
  ASSERT_EQ(e[0].header.xattrs.size(), 2u);
  EXPECT_EQ(e[0].header.xattrs.at("user.mime"), "text/plain");
  EXPECT_EQ(e[0].header.xattrs.at("security.capability"), std::string("\x01\x00", 2));
  EXPECT_EQ(e[1].header.linkname, std::string(200, 'x'));
}

TEST_F(TarReaderTest, GlobalPaxHeaderAppliesToFollowingEntries) {
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT, pax_headers={'uid': '4242', 'comment': 'g'})
for n in ('a', 'b'):
    ti = tarfile.TarInfo(n); tf.addfile(ti)
tf.close())");
  auto e = parse(tar);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].header.uid, 4242);
  EXPECT_EQ(e[1].header.uid, 4242);
}

TEST_F(TarReaderTest, Base256NumbersIncludingNegativeMtime) {
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
ti = tarfile.TarInfo('old'); ti.uid = 3000000; ti.mtime = -1000
tf.addfile(ti)
tf.close())");
  auto e = parse(tar);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].header.uid, 3000000);
  EXPECT_EQ(e[0].header.mtime_sec, -1000);
}

TEST_F(TarReaderTest, MissingEndBlocksAndTrailingGarbageAreTolerated) {
  auto tar = make_tar(tmp_, fmt(kBasic, "USTAR_FORMAT"));
  // Strip every trailing zero block: Docker accepts layers cut right after the last entry.
  auto cut = tar;
  while (cut.size() >= 512 &&
         std::all_of(cut.end() - 512, cut.end(), [](std::byte b) { return b == std::byte{0}; })) {
    cut.resize(cut.size() - 512);
  }
  ASSERT_LT(cut.size(), tar.size());
  check_basic(parse(cut));
  auto garbage = tar;
  for (int i = 0; i < 100; ++i) garbage.push_back(std::byte{0x41});
  check_basic(parse(garbage));
}

TEST_F(TarReaderTest, OldStyleRegularWithSlashIsDirectory) {
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.USTAR_FORMAT)
ti = tarfile.TarInfo('olddir/'); ti.type = tarfile.AREGTYPE
tf.addfile(ti)
ti = tarfile.TarInfo('oldfile'); ti.type = tarfile.AREGTYPE; ti.size = 1
tf.addfile(ti, io.BytesIO(b'z'))
tf.close())");
  auto e = parse(tar);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].header.type, tar_type::kDirectory);
  EXPECT_EQ(e[1].header.type, tar_type::kRegular);
  EXPECT_EQ(e[1].data, "z");
}

// ---- hostile and broken archives ----

constexpr const char* kOneBigFile = R"(
tf = tarfile.open(out, 'w', format=tarfile.USTAR_FORMAT)
ti = tarfile.TarInfo('victim.bin'); ti.size = 3000
tf.addfile(ti, io.BytesIO(b'v' * 3000))
tf.close())";

TEST_F(TarReaderTest, TruncatedArchiveNamesTheEntry) {
  auto tar = make_tar(tmp_, kOneBigFile);
  tar.resize(512 + 1000);
  expect_invalid(tar, {"victim.bin", "truncated"});
  auto in_padding = make_tar(tmp_, kOneBigFile);
  in_padding.resize(512 + 3000 + 10);
  expect_invalid(in_padding, {"victim.bin", "padding"});
  auto in_header = make_tar(tmp_, kOneBigFile);
  in_header.resize(300);
  expect_invalid(in_header, {"incomplete header"});
}

TEST_F(TarReaderTest, BadChecksumNamesTheEntry) {
  auto tar = make_tar(tmp_, kOneBigFile);
  tar[136 + 3] = std::byte{'7'};  // inside mtime: the stored checksum no longer matches
  expect_invalid(tar, {"victim.bin", "checksum"});
}

TEST_F(TarReaderTest, HugePaxHeaderIsRefusedNamingTheEntry) {
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.PAX_FORMAT)
ti = tarfile.TarInfo('bomb.txt'); ti.pax_headers = {'comment': 'A' * (2 << 20)}
tf.addfile(ti)
tf.close())");
  expect_invalid(tar, {"bomb.txt", "exceeds the limit"});
}

TEST_F(TarReaderTest, NegativeSizeIsRefused) {
  auto tar = make_tar(tmp_, R"(
tf = tarfile.open(out, 'w', format=tarfile.GNU_FORMAT)
ti = tarfile.TarInfo('neg'); ti.size = -5
tf.addfile(ti)
tf.close())");
  expect_invalid(tar, {"neg", "negative size"});
}

TEST_F(TarReaderTest, MalformedPaxRecordIsRefused) {
  // A PAX header whose record length points past the header.
  auto tar = make_tar(tmp_, R"(
payload = b'99 path=evil\n'
pax = tarfile.TarInfo('././@PaxHeader'); pax.type = tarfile.XHDTYPE; pax.size = len(payload)
f = open(out, 'wb')
f.write(pax.tobuf(tarfile.USTAR_FORMAT)); f.write(payload + b'\0' * (512 - len(payload)))
f.write(tarfile.TarInfo('real').tobuf(tarfile.USTAR_FORMAT)); f.write(b'\0' * 1024); f.close())");
  expect_invalid(tar, {"PAX record"});
}

TEST_F(TarReaderTest, ReaderRefusesInputAfterAnError) {
  auto tar = make_tar(tmp_, kOneBigFile);
  tar[140] = std::byte{'1'};
  testing::RecordingSink sink;
  TarReader r(sink);
  EXPECT_THROW(r.feed(tar), Error);
  EXPECT_THROW(r.feed(tar), Error);
  EXPECT_THROW(r.finish(), Error);
}

}  // namespace
}  // namespace bocker::image
