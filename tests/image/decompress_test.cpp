// Streaming gzip (isa-l) and zstd decompression: round trips in odd chunk sizes, concatenated
// members/frames, padding, corrupt and truncated input, and compatibility with the gzip/zstd CLIs.
#include "bocker/image/decompress.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {

// Text-like runs, random bytes and long zero runs: exercises literals, matches and stored blocks.
std::string mixed_data(std::size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(n);
  static const char* words[] = {"layer ", "image ", "bocker ", "container ", "/usr/bin/", "\n", "0123456789"};
  while (out.size() < n) {
    switch (rng() % 3) {
      case 0:
        for (int i = 0; i < 200; ++i) out += words[rng() % 7];
        break;
      case 1:
        for (int i = 0; i < 3000; ++i) out += static_cast<char>(rng());
        break;
      default:
        out.append(5000, '\0');
    }
  }
  out.resize(n);
  return out;
}

std::string gzip_zlib(std::string_view in, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A member whose header carries FEXTRA, FNAME, FCOMMENT and FHCRC (zlib writes them).
std::string gzip_with_header_fields(std::string_view in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  static unsigned char extra[] = {'A', 'B', 4, 0, 'd', 'a', 't', 'a'};
  static unsigned char name[] = "layer.tar";
  static unsigned char comment[] = "a comment";
  gz_header h{};
  h.extra = extra;
  h.extra_len = 8;
  h.name = name;
  h.comment = comment;
  h.hcrc = 1;
  EXPECT_EQ(deflateSetHeader(&zs, &h), Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 256, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd_compress(std::string_view in, int level = 3) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Feeds `in` in pieces of `chunk` bytes and returns everything produced; finish() included.
std::string run(Compression c, std::string_view in, std::size_t chunk) {
  auto d = make_decompressor(c);
  std::string out;
  auto sink = [&](std::span<const std::byte> piece) {
    out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  };
  for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
    d->feed(bytes(in.substr(pos, chunk)), sink);
  }
  d->finish();
  EXPECT_EQ(d->bytes_in(), in.size());
  EXPECT_EQ(d->bytes_out(), out.size());
  return out;
}

// The message of the bocker::Error(kInvalid) that decompressing `in` throws; fails the test otherwise.
std::string error_of(Compression c, std::string_view in, std::size_t chunk = 4096) {
  try {
    run(c, in, chunk);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << in.size() << " bytes of " << compression_name(c);
  return {};
}

bool have_tool(const char* name) {
  std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bocker-decompress-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

const std::size_t kChunks[] = {1, 7, 65536, 1 << 24};

TEST(DetectCompression, MagicNumbers) {
  EXPECT_EQ(detect_compression(bytes(gzip_zlib("x"))), Compression::Gzip);
  EXPECT_EQ(detect_compression(bytes(zstd_compress("x"))), Compression::Zstd);
  EXPECT_EQ(detect_compression(bytes(std::string("\x50\x2a\x4d\x18", 4))), Compression::Zstd);  // skippable
  EXPECT_EQ(detect_compression(bytes("ustar archive")), Compression::None);
  EXPECT_EQ(detect_compression(bytes(std::string("\x1f", 1))), Compression::None);  // too short
  EXPECT_EQ(detect_compression(bytes(std::string("\x28\xb5\x2f", 3))), Compression::None);
  EXPECT_EQ(detect_compression({}), Compression::None);
}

TEST(Decompress, NonePassesBytesThrough) {
  std::string data = mixed_data(100000);
  EXPECT_EQ(run(Compression::None, data, 7), data);
  EXPECT_EQ(run(Compression::None, "", 7), "");
  EXPECT_EQ(compression_name(Compression::None), "none");
}

TEST(GzipDecompress, RoundTripInOddChunkSizes) {
  for (int level : {1, 6, 9}) {
    std::string data = mixed_data(level == 6 ? 300000 : 40000, level);
    std::string gz = gzip_zlib(data, level);
    for (std::size_t chunk : kChunks) {
      EXPECT_EQ(run(Compression::Gzip, gz, chunk), data) << "level " << level << " chunk " << chunk;
    }
  }
}

TEST(GzipDecompress, OptionalHeaderFieldsSplitAnywhere) {
  std::string data = mixed_data(20000, 8);
  std::string gz = gzip_with_header_fields(data);
  ASSERT_EQ(static_cast<unsigned char>(gz[3]), 0x1e);  // FHCRC|FEXTRA|FNAME|FCOMMENT
  // Every split point inside the header region (isa-l 2.30's own header parser fails some of these).
  for (std::size_t chunk = 1; chunk <= 48; ++chunk) {
    EXPECT_EQ(run(Compression::Gzip, gz, chunk), data) << "chunk " << chunk;
  }
  EXPECT_EQ(run(Compression::Gzip, gz + gz, 10), data + data);
  std::string bad = gz;
  bad[12] ^= 0x20;  // inside the extra field: the header CRC no longer matches
  EXPECT_NE(error_of(Compression::Gzip, bad).find("header checksum mismatch in member 1"), std::string::npos);
  std::string reserved = gz;
  reserved[3] |= 0x40;
  EXPECT_NE(error_of(Compression::Gzip, reserved).find("reserved header flags"), std::string::npos);
}

TEST(GzipDecompress, HighlyCompressibleOutputLargerThanBuffersFromOneFeed) {
  std::string data(20 << 20, 'a');  // 20 MiB from a few KiB of input
  std::string gz = gzip_zlib(data, 9);
  ASSERT_LT(gz.size(), 100000u);
  EXPECT_EQ(run(Compression::Gzip, gz, gz.size()), data);
}

TEST(GzipDecompress, EmptyPayloadIsOneValidMember) {
  EXPECT_EQ(run(Compression::Gzip, gzip_zlib(""), 1), "");
}

TEST(GzipDecompress, ConcatenatedMembersLikeGzipDc) {
  std::string a = mixed_data(30000, 2), b = mixed_data(1000, 3), c = mixed_data(50000, 4);
  std::string gz = gzip_zlib(a) + gzip_zlib("") + gzip_zlib(b) + gzip_zlib(c, 1);
  for (std::size_t chunk : kChunks) {
    EXPECT_EQ(run(Compression::Gzip, gz, chunk), a + b + c) << "chunk " << chunk;
  }
}

TEST(GzipDecompress, TrailingNulPaddingIsIgnoredGarbageIsNot) {
  std::string data = mixed_data(5000);
  std::string padded = gzip_zlib(data) + std::string(1024, '\0');
  EXPECT_EQ(run(Compression::Gzip, padded, 7), data);
  std::string msg = error_of(Compression::Gzip, gzip_zlib(data) + "garbage", 7);
  EXPECT_NE(msg.find("trailing garbage after member 1"), std::string::npos) << msg;
  msg = error_of(Compression::Gzip, gzip_zlib(data) + std::string(10, '\0') + "x");
  EXPECT_NE(msg.find("trailing garbage"), std::string::npos) << msg;
  // A second member with a broken header.
  msg = error_of(Compression::Gzip, gzip_zlib(data) + "\x1f\x8c" + std::string(20, 'z'));
  EXPECT_NE(msg.find("member 2"), std::string::npos) << msg;
}

TEST(GzipDecompress, TruncatedInputNamesTheProblem) {
  std::string data = mixed_data(60000);
  std::string gz = gzip_zlib(data);
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{5}, std::size_t{10}, gz.size() / 2, gz.size() - 8, gz.size() - 1}) {
    for (std::size_t chunk : {std::size_t{1}, std::size_t{4096}}) {
      if (chunk == 1 && cut > 20000 && cut < gz.size() - 10) continue;  // keep the 1-byte runs short
      std::string msg = error_of(Compression::Gzip, gz.substr(0, cut), chunk);
      EXPECT_TRUE(msg.starts_with("gzip stream: ")) << msg;
      EXPECT_NE(msg.find("truncated"), std::string::npos) << "cut " << cut << ": " << msg;
    }
  }
  // Cut inside the second member.
  std::string two = gz + gzip_zlib("second member");
  std::string msg = error_of(Compression::Gzip, two.substr(0, gz.size() + 12));
  EXPECT_NE(msg.find("member 2"), std::string::npos) << msg;
}

TEST(GzipDecompress, CorruptInputIsAnError) {
  std::string data = mixed_data(100000);
  std::string gz = gzip_zlib(data);

  std::string bad_crc = gz;
  bad_crc[gz.size() - 6] ^= 0x55;  // inside the CRC32 of the trailer
  EXPECT_NE(error_of(Compression::Gzip, bad_crc).find("checksum"), std::string::npos);

  std::string bad_len = gz;
  bad_len[gz.size() - 2] ^= 0x01;  // ISIZE
  EXPECT_NE(error_of(Compression::Gzip, bad_len).find("checksum"), std::string::npos);

  std::string bad_method = gz;
  bad_method[2] = 7;  // CM must be 8 (deflate)
  EXPECT_TRUE(error_of(Compression::Gzip, bad_method).starts_with("gzip stream: "));

  std::string not_gzip = "this is not gzip at all, just text";
  EXPECT_TRUE(error_of(Compression::Gzip, not_gzip).starts_with("gzip stream: "));

  // Flipped bits in the body: whatever isa-l notices first, it must be an Error(kInvalid).
  for (std::size_t pos : {std::size_t{20}, gz.size() / 3, gz.size() / 2}) {
    std::string bad = gz;
    bad[pos] ^= 0xff;
    EXPECT_TRUE(error_of(Compression::Gzip, bad).starts_with("gzip stream: ")) << pos;
  }
}

TEST(GzipDecompress, EmptyInputAndMisuse) {
  EXPECT_NE(error_of(Compression::Gzip, "").find("empty input"), std::string::npos);
  auto d = make_decompressor(Compression::Gzip);
  auto ignore = [](std::span<const std::byte>) {};
  d->feed(bytes(gzip_zlib("abc")), ignore);
  d->finish();
  EXPECT_THROW(d->feed(bytes("x"), ignore), Error);
}

TEST(GzipDecompress, SinkExceptionsPassThrough) {
  auto d = make_decompressor(Compression::Gzip);
  std::string gz = gzip_zlib(mixed_data(10000));
  EXPECT_THROW(d->feed(bytes(gz), [](std::span<const std::byte>) { throw std::out_of_range("sink full"); }),
               std::out_of_range);
}

TEST(GzipDecompress, ReadsWhatTheGzipToolWrites) {
  if (!have_tool("gzip")) GTEST_SKIP() << "gzip not installed";
  TempDir dir;
  std::string data = mixed_data(100000, 9);
  { std::ofstream(dir.path() / "layer.tar", std::ios::binary) << data; }
  // gzip stores the file name (FNAME flag) and mtime in the header; -c twice makes two members.
  std::string cmd =
      "cd '" + dir.path().string() + "' && gzip -9 -c layer.tar > a.gz && gzip -1 -c layer.tar >> a.gz";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string gz = read_all(dir.path() / "a.gz");
  EXPECT_EQ(run(Compression::Gzip, gz, 7), data + data);
  EXPECT_EQ(run(Compression::Gzip, gz, 65536), data + data);
}

TEST(ZstdDecompress, RoundTripInOddChunkSizes) {
  for (int level : {1, 3, 19}) {
    std::string data = mixed_data(level == 3 ? 300000 : 40000, level);
    std::string z = zstd_compress(data, level);
    for (std::size_t chunk : kChunks) {
      EXPECT_EQ(run(Compression::Zstd, z, chunk), data) << "level " << level << " chunk " << chunk;
    }
  }
  std::string big(20 << 20, 'b');
  std::string z = zstd_compress(big);
  EXPECT_EQ(run(Compression::Zstd, z, z.size()), big);
}

TEST(ZstdDecompress, ConcatenatedAndSkippableFrames) {
  std::string a = mixed_data(50000, 5), b = mixed_data(3000, 6);
  // Skippable frame: magic 0x184D2A50 (little endian), 4-byte length, payload.
  std::string skippable = std::string("\x50\x2a\x4d\x18\x05\x00\x00\x00", 8) + "hello";
  std::string z = zstd_compress(a) + skippable + zstd_compress("") + zstd_compress(b);
  for (std::size_t chunk : kChunks) {
    EXPECT_EQ(run(Compression::Zstd, z, chunk), a + b) << "chunk " << chunk;
  }
}

TEST(ZstdDecompress, TruncatedCorruptAndEmpty) {
  std::string data = mixed_data(100000);
  std::string z = zstd_compress(data);
  for (std::size_t cut : {std::size_t{2}, std::size_t{6}, z.size() / 2, z.size() - 1}) {
    std::string msg = error_of(Compression::Zstd, z.substr(0, cut), 7);
    EXPECT_TRUE(msg.starts_with("zstd stream: ")) << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << "cut " << cut << ": " << msg;
  }
  EXPECT_NE(error_of(Compression::Zstd, "").find("empty input"), std::string::npos);
  EXPECT_TRUE(error_of(Compression::Zstd, "definitely not zstd").starts_with("zstd stream: "));
  std::string bad = z;
  bad[0] ^= 0x01;  // magic
  EXPECT_TRUE(error_of(Compression::Zstd, bad).starts_with("zstd stream: "));
  // Compressed with a checksum: a flipped body byte must be caught.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  std::string zc(ZSTD_compressBound(data.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx, zc.data(), zc.size(), data.data(), data.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_FALSE(ZSTD_isError(n));
  zc.resize(n);
  zc[n / 2] ^= 0x40;
  EXPECT_TRUE(error_of(Compression::Zstd, zc).starts_with("zstd stream: "));
}

TEST(ZstdDecompress, ReadsWhatTheZstdToolWrites) {
  if (!have_tool("zstd")) GTEST_SKIP() << "zstd not installed";
  TempDir dir;
  std::string data = mixed_data(400000, 11);
  { std::ofstream(dir.path() / "layer.tar", std::ios::binary) << data; }
  std::string cmd = "cd '" + dir.path().string() + "' && zstd -q -c layer.tar > a.zst";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(run(Compression::Zstd, read_all(dir.path() / "a.zst"), 7), data);
}

}  // namespace
}  // namespace bocker::image
