// Layer decompression throughput: isa-l (our gzip path) against zlib's inflate on the same ~32 MiB of
// mixed data (text-like runs, random bytes, zero runs) compressed once with zlib level 6; zstd on the
// same data for reference. Fed in 1 MiB pieces, as a download would arrive. Build in Release.
#include <benchmark/benchmark.h>
#include <zlib.h>
#include <zstd.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bocker/image/decompress.hpp"

namespace {

constexpr std::size_t kDataSize = 32 << 20;
constexpr std::size_t kFeed = 1 << 20;

const std::string& data() {
  static const std::string d = [] {
    std::mt19937 rng(42);
    std::string out;
    out.reserve(kDataSize);
    static const char* words[] = {"usr/lib/",         "libc.so.6 ", "ELF ",
                                  "\x7f\x45\x4c\x46", "ustar  ",    "0000644 "};
    while (out.size() < kDataSize) {
      switch (rng() % 4) {
        case 0:
        case 1:
          for (int i = 0; i < 500; ++i) out += words[rng() % 6];
          break;
        case 2:
          for (int i = 0; i < 4000; ++i) out += static_cast<char>(rng() % 64);  // low-entropy binary
          break;
        default:
          out.append(rng() % 8192, '\0');
      }
    }
    out.resize(kDataSize);
    return out;
  }();
  return d;
}

const std::string& gzipped() {
  static const std::string gz = [] {
    const std::string& in = data();
    z_stream zs{};
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("deflateInit2");
    std::string out(deflateBound(&zs, in.size()), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
  }();
  return gz;
}

const std::string& zstded() {
  static const std::string z = [] {
    const std::string& in = data();
    std::string out(ZSTD_compressBound(in.size()), '\0');
    std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress");
    out.resize(n);
    return out;
  }();
  return z;
}

void run_ours(benchmark::State& state, bocker::image::Compression c, const std::string& in) {
  for (auto _ : state) {
    auto d = bocker::image::make_decompressor(c);
    std::size_t out = 0;
    for (std::size_t pos = 0; pos < in.size(); pos += kFeed) {
      std::string_view piece = std::string_view(in).substr(pos, kFeed);
      d->feed(std::as_bytes(std::span(piece.data(), piece.size())),
              [&](std::span<const std::byte> b) { out += b.size(); });
    }
    d->finish();
    if (out != kDataSize) state.SkipWithError("wrong output size");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDataSize));
  state.counters["ratio"] = static_cast<double>(kDataSize) / static_cast<double>(in.size());
}

void BM_GzipIsal(benchmark::State& state) { run_ours(state, bocker::image::Compression::Gzip, gzipped()); }

void BM_GzipZlib(benchmark::State& state) {
  const std::string& in = gzipped();
  std::vector<unsigned char> buf(128 * 1024);
  for (auto _ : state) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) state.SkipWithError("inflateInit2");
    std::size_t out = 0;
    int rc = Z_OK;
    for (std::size_t pos = 0; pos < in.size() && rc != Z_STREAM_END; pos += kFeed) {
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
      zs.avail_in = static_cast<uInt>(std::min(kFeed, in.size() - pos));
      do {
        zs.next_out = buf.data();
        zs.avail_out = static_cast<uInt>(buf.size());
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) state.SkipWithError("inflate");
        out += buf.size() - zs.avail_out;
      } while (zs.avail_out == 0 && rc == Z_OK);
    }
    inflateEnd(&zs);
    if (out != kDataSize) state.SkipWithError("wrong output size");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kDataSize));
}

void BM_Zstd(benchmark::State& state) { run_ours(state, bocker::image::Compression::Zstd, zstded()); }

BENCHMARK(BM_GzipIsal)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GzipZlib)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Zstd)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
