// Feeds arbitrary bytes to the gzip (isa-l) and zstd streaming decompressors, once whole and once split
// into pieces whose sizes come from the input, and checks that only bocker::Error(kInvalid) is thrown
// and that the outcome (output bytes, or failure) does not depend on the split. Output is capped so
// that decompression bombs end the run early instead of exhausting memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "bocker/image/decompress.hpp"
#include "bocker/runtime/error.hpp"

namespace {

using bocker::image::Compression;

constexpr std::size_t kOutputCap = 16 * 1024 * 1024;
struct CapReached {};

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  bool ok = false;
  bool capped = false;
  std::string out;
};

Outcome run(Compression c, std::span<const std::byte> in, std::size_t seed) {
  Outcome r;
  auto d = bocker::image::make_decompressor(c);
  auto sink = [&](std::span<const std::byte> piece) {
    check(!piece.empty());
    if (r.out.size() + piece.size() > kOutputCap) throw CapReached{};
    r.out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
  };
  try {
    std::size_t pos = 0, step = seed;
    while (pos < in.size()) {
      std::size_t n = seed == 0 ? in.size() : 1 + (step % 97);
      step = step * 31 + 7;
      n = std::min(n, in.size() - pos);
      d->feed(in.subspan(pos, n), sink);
      pos += n;
    }
    d->finish();
    check(d->bytes_in() == in.size());
    check(d->bytes_out() == r.out.size());
    r.ok = true;
  } catch (const bocker::Error& e) {
    check(e.kind() == bocker::Error::Kind::kInvalid);
    check(std::string(e.what()).starts_with(std::string(bocker::image::compression_name(c)) + " stream: "));
  } catch (const CapReached&) {
    r.capped = true;
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  (void)bocker::image::detect_compression(in);
  std::size_t seed = size > 0 ? 1 + data[size - 1] : 1;
  for (Compression c : {Compression::Gzip, Compression::Zstd}) {
    Outcome whole = run(c, in, 0);
    Outcome split = run(c, in, seed);
    if (whole.capped || split.capped) continue;
    check(whole.ok == split.ok);
    if (whole.ok) check(whole.out == split.out);
  }
  return 0;
}
