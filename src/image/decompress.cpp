#include "bocker/image/decompress.hpp"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {

constexpr std::size_t kOutChunk = 128 * 1024;
// isal_inflate takes 32-bit lengths; feed larger inputs in pieces.
constexpr std::size_t kMaxInChunk = 1u << 30;

std::uint8_t byte_at(std::span<const std::byte> s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

const char* isal_error_text(int rc) {
  switch (rc) {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
      return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "checksum mismatch (CRC32 or length in the trailer)";
    case ISAL_NEED_DICT:
      return "preset dictionary required";
    default:
      return "inflate error";
  }
}

class PassThrough final : public Decompressor {
 public:
  void feed(std::span<const std::byte> in, const Sink& out) override {
    bytes_in_ += in.size();
    bytes_out_ += in.size();
    if (!in.empty()) out(in);
  }
  void finish() override {}
};

// gzip through isa-l. States: in a member (isal state live), between members (a member just ended;
// the next byte decides: 1f starts a member, 00 starts padding), padding (only NULs allowed).
class GzipDecompressor final : public Decompressor {
 public:
  GzipDecompressor() : state_(std::make_unique<inflate_state>()), buf_(kOutChunk) { start_member(); }

  void feed(std::span<const std::byte> in, const Sink& out) override {
    if (failed_) throw invalid("gzip stream: used after an error");
    if (finished_) throw invalid("gzip stream: input after the end of the stream");
    while (!in.empty()) {
      std::size_t take = std::min(in.size(), kMaxInChunk);
      feed_piece(in.first(take), out);
      in = in.subspan(take);
    }
  }

  void finish() override {
    if (finished_) return;
    if (failed_) throw invalid("gzip stream: used after an error");
    if (bytes_in_ == 0) fail("gzip stream: empty input");
    if (mode_ == Mode::kMember && member_started_) {
      fail("gzip stream: unexpected end of input in member " + std::to_string(member_) + " after " +
           std::to_string(bytes_in_) + " bytes (truncated)");
    }
    finished_ = true;
  }

 private:
  enum class Mode { kMember, kPadding };

  [[noreturn]] void fail(const std::string& msg) {
    failed_ = true;
    throw invalid(msg);
  }

  void start_member() {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;
    member_started_ = false;
  }

  void feed_piece(std::span<const std::byte> in, const Sink& out) {
    auto* p = reinterpret_cast<std::uint8_t*>(const_cast<std::byte*>(in.data()));
    std::uint32_t avail = static_cast<std::uint32_t>(in.size());
    while (avail > 0 || pending_output_) {
      if (mode_ == Mode::kPadding) {
        for (std::uint32_t i = 0; i < avail; ++i) {
          if (p[i] != 0) {
            fail("gzip stream: trailing garbage after member " + std::to_string(member_) + " at byte " +
                 std::to_string(bytes_in_ + i));
          }
        }
        bytes_in_ += avail;
        return;
      }
      if (member_done_) {
        // A member ended and more input follows: another member or NUL padding.
        member_done_ = false;
        if (p[0] == 0) {
          mode_ = Mode::kPadding;
          continue;
        }
        if (p[0] != 0x1f) {
          fail("gzip stream: trailing garbage after member " + std::to_string(member_) + " at byte " +
               std::to_string(bytes_in_));
        }
        ++member_;
        start_member();
      }
      member_started_ = true;
      state_->next_in = p;
      state_->avail_in = avail;
      state_->next_out = reinterpret_cast<std::uint8_t*>(buf_.data());
      state_->avail_out = static_cast<std::uint32_t>(buf_.size());
      int rc = isal_inflate(state_.get());
      std::uint32_t used = avail - state_->avail_in;
      bytes_in_ += used;
      p += used;
      avail = state_->avail_in;
      if (rc < 0) {
        fail("gzip stream: " + std::string(isal_error_text(rc)) + " in member " + std::to_string(member_) +
             " near byte " + std::to_string(bytes_in_));
      }
      if (rc == ISAL_NEED_DICT) fail("gzip stream: " + std::string(isal_error_text(rc)));
      std::size_t produced = buf_.size() - state_->avail_out;
      // A full output buffer may mean isa-l holds more output internally: call again even with no input.
      pending_output_ = state_->avail_out == 0;
      if (produced > 0) {
        bytes_out_ += produced;
        out(std::span<const std::byte>(buf_.data(), produced));
      }
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        member_done_ = true;
        member_started_ = false;
        pending_output_ = false;
      } else if (!pending_output_ && used == 0 && avail > 0) {
        fail("gzip stream: inflate made no progress in member " + std::to_string(member_));
      }
    }
  }

  std::unique_ptr<inflate_state> state_;
  std::vector<std::byte> buf_;
  Mode mode_ = Mode::kMember;
  std::uint64_t member_ = 1;
  bool member_started_ = false;
  bool member_done_ = false;
  bool pending_output_ = false;
  bool failed_ = false;
  bool finished_ = false;
};

struct DctxFree {
  void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};

class ZstdDecompressor final : public Decompressor {
 public:
  ZstdDecompressor() : dctx_(ZSTD_createDCtx()), buf_(ZSTD_DStreamOutSize()) {
    if (!dctx_) throw Error("zstd stream: cannot allocate a decompression context");
  }

  void feed(std::span<const std::byte> in, const Sink& out) override {
    if (failed_) throw invalid("zstd stream: used after an error");
    if (finished_) throw invalid("zstd stream: input after the end of the stream");
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    for (;;) {
      ZSTD_outBuffer ob{buf_.data(), buf_.size(), 0};
      std::size_t before = ib.pos;
      std::size_t rc = ZSTD_decompressStream(dctx_.get(), &ob, &ib);
      bytes_in_ += ib.pos - before;
      if (ZSTD_isError(rc)) {
        failed_ = true;
        throw invalid("zstd stream: " + std::string(ZSTD_getErrorName(rc)) + " near byte " +
                      std::to_string(bytes_in_));
      }
      hint_ = rc;
      if (ob.pos > 0) {
        bytes_out_ += ob.pos;
        out(std::span<const std::byte>(buf_.data(), ob.pos));
      }
      // Done when all input is consumed and the output buffer was not filled (no flush pending).
      if (ib.pos == ib.size && ob.pos < ob.size) break;
    }
  }

  void finish() override {
    if (finished_) return;
    if (failed_) throw invalid("zstd stream: used after an error");
    if (bytes_in_ == 0) {
      failed_ = true;
      throw invalid("zstd stream: empty input");
    }
    if (hint_ != 0) {
      failed_ = true;
      throw invalid("zstd stream: unexpected end of input after " + std::to_string(bytes_in_) +
                    " bytes (truncated frame)");
    }
    finished_ = true;
  }

 private:
  std::unique_ptr<ZSTD_DCtx, DctxFree> dctx_;
  std::vector<std::byte> buf_;
  std::size_t hint_ = 0;  // last ZSTD_decompressStream result: 0 at a frame boundary
  bool failed_ = false;
  bool finished_ = false;
};

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::None:
      return "none";
    case Compression::Gzip:
      return "gzip";
    case Compression::Zstd:
      return "zstd";
  }
  return "unknown";
}

Compression detect_compression(std::span<const std::byte> first) {
  if (first.size() >= 2 && byte_at(first, 0) == 0x1f && byte_at(first, 1) == 0x8b) return Compression::Gzip;
  if (first.size() >= 4) {
    std::uint8_t b0 = byte_at(first, 0), b1 = byte_at(first, 1), b2 = byte_at(first, 2), b3 = byte_at(first, 3);
    if (b0 == 0x28 && b1 == 0xb5 && b2 == 0x2f && b3 == 0xfd) return Compression::Zstd;
    if ((b0 & 0xf0) == 0x50 && b1 == 0x2a && b2 == 0x4d && b3 == 0x18) return Compression::Zstd;
  }
  return Compression::None;
}

std::unique_ptr<Decompressor> make_decompressor(Compression c) {
  switch (c) {
    case Compression::None:
      return std::make_unique<PassThrough>();
    case Compression::Gzip:
      return std::make_unique<GzipDecompressor>();
    case Compression::Zstd:
      return std::make_unique<ZstdDecompressor>();
  }
  throw invalid("unknown compression " + std::to_string(static_cast<int>(c)));
}

}  // namespace bocker::image
