#include "bocker/image/decompress.hpp"

#include <isa-l/igzip_lib.h>
#include <zlib.h>
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

// The RFC 1952 member header, parsed here rather than by isa-l: isa-l 2.30's own parser (crc_flag
// ISAL_GZIP) loses its place when a call ends right after the fixed 10 bytes of a header with FNAME
// and then misreads the name as deflate data. We hand isa-l the raw deflate stream with
// ISAL_GZIP_NO_HDR_VER, which still verifies the CRC32/ISIZE trailer.
class GzipHeader {
 public:
  void reset() { *this = GzipHeader(); }
  bool done() const noexcept { return stage_ == Stage::kDone; }
  bool started() const noexcept { return started_; }

  // Consumes header bytes from `in`; returns how many. Throws a message fragment via `fail`.
  std::size_t consume(std::span<const std::uint8_t> in, const std::function<void(const std::string&)>& fail) {
    std::size_t used = 0;
    while (used < in.size() && stage_ != Stage::kDone) {
      std::uint8_t b = in[used++];
      started_ = true;
      if (stage_ != Stage::kHcrc) crc_ = static_cast<std::uint32_t>(crc32(crc_, &b, 1));
      switch (stage_) {
        case Stage::kBase:
          fixed_[got_++] = b;
          if (got_ == 1 && b != 0x1f) fail("not a gzip header (bad magic)");
          if (got_ == 2 && b != 0x8b) fail("not a gzip header (bad magic)");
          if (got_ == 3 && b != 8) fail("unsupported compression method " + std::to_string(b));
          if (got_ == 4 && (b & 0xe0) != 0) fail("reserved header flags set");
          if (got_ == 10) {
            flags_ = fixed_[3];
            got_ = 0;
            next_after(kFlagText);
          }
          break;
        case Stage::kXlen:
          fixed_[got_++] = b;
          if (got_ == 2) {
            extra_left_ = fixed_[0] | (fixed_[1] << 8);
            got_ = 0;
            stage_ = Stage::kExtra;
            if (extra_left_ == 0) next_after(kFlagExtra);
          }
          break;
        case Stage::kExtra:
          if (--extra_left_ == 0) next_after(kFlagExtra);
          break;
        case Stage::kName:
          if (b == 0) next_after(kFlagName);
          break;
        case Stage::kComment:
          if (b == 0) next_after(kFlagComment);
          break;
        case Stage::kHcrc:
          fixed_[got_++] = b;
          if (got_ == 2) {
            if (static_cast<std::uint32_t>(fixed_[0] | (fixed_[1] << 8)) != (crc_ & 0xffff))
              fail("header checksum mismatch");
            stage_ = Stage::kDone;
          }
          break;
        case Stage::kDone:
          break;
      }
    }
    return used;
  }

 private:
  enum class Stage { kBase, kXlen, kExtra, kName, kComment, kHcrc, kDone };
  static constexpr std::uint8_t kFlagText = 1, kFlagHcrc = 2, kFlagExtra = 4, kFlagName = 8,
                                kFlagComment = 16;

  // Moves to the first optional field (in header order) whose flag is set, after `field`.
  void next_after(std::uint8_t field) {
    if (field < kFlagExtra && (flags_ & kFlagExtra)) {
      stage_ = Stage::kXlen;
    } else if (field < kFlagName && (flags_ & kFlagName)) {
      stage_ = Stage::kName;
    } else if (field < kFlagComment && (flags_ & kFlagComment)) {
      stage_ = Stage::kComment;
    } else if (flags_ & kFlagHcrc) {
      stage_ = Stage::kHcrc;
    } else {
      stage_ = Stage::kDone;
    }
  }

  Stage stage_ = Stage::kBase;
  std::uint8_t fixed_[10] = {};
  std::size_t got_ = 0;
  std::uint8_t flags_ = 0;
  std::uint32_t extra_left_ = 0;
  std::uint32_t crc_ = 0;
  bool started_ = false;
};

// gzip: our header parser, then isa-l inflate of the deflate data and trailer. After a member, the
// next byte decides: 1f starts another member, 00 starts padding (only NULs may follow).
class GzipDecompressor final : public Decompressor {
 public:
  GzipDecompressor() : state_(std::make_unique<inflate_state>()), buf_(kOutChunk) {}

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
    if (mode_ == Mode::kHeader || mode_ == Mode::kBody) {
      fail("gzip stream: unexpected end of input in member " + std::to_string(member_) +
           (mode_ == Mode::kHeader ? " header" : "") + " after " + std::to_string(bytes_in_) +
           " bytes (truncated)");
    }
    finished_ = true;
  }

 private:
  enum class Mode { kHeader, kBody, kBetween, kPadding };

  [[noreturn]] void fail(const std::string& msg) {
    failed_ = true;
    throw invalid(msg);
  }

  void feed_piece(std::span<const std::byte> in, const Sink& out) {
    auto* p = reinterpret_cast<std::uint8_t*>(const_cast<std::byte*>(in.data()));
    std::uint32_t avail = static_cast<std::uint32_t>(in.size());
    while (avail > 0 || pending_output_) {
      switch (mode_) {
        case Mode::kPadding:
          for (std::uint32_t i = 0; i < avail; ++i) {
            if (p[i] != 0) {
              fail("gzip stream: trailing garbage after member " + std::to_string(member_) + " at byte " +
                   std::to_string(bytes_in_ + i));
            }
          }
          bytes_in_ += avail;
          return;
        case Mode::kBetween:
          if (p[0] == 0) {
            mode_ = Mode::kPadding;
            continue;
          }
          if (p[0] != 0x1f) {
            fail("gzip stream: trailing garbage after member " + std::to_string(member_) + " at byte " +
                 std::to_string(bytes_in_));
          }
          ++member_;
          header_.reset();
          mode_ = Mode::kHeader;
          continue;
        case Mode::kHeader: {
          std::size_t used = header_.consume({p, avail}, [&](const std::string& why) {
            fail("gzip stream: " + why + " in member " + std::to_string(member_) + " at byte " +
                 std::to_string(bytes_in_));
          });
          bytes_in_ += used;
          p += used;
          avail -= static_cast<std::uint32_t>(used);
          if (header_.done()) {
            isal_inflate_init(state_.get());
            state_->crc_flag = ISAL_GZIP_NO_HDR_VER;
            mode_ = Mode::kBody;
          }
          continue;
        }
        case Mode::kBody:
          inflate_some(p, avail, out);
          continue;
      }
    }
  }

  // One isal_inflate call over (p, avail); advances them and emits the output.
  void inflate_some(std::uint8_t*& p, std::uint32_t& avail, const Sink& out) {
    state_->next_in = p;
    state_->avail_in = avail;
    state_->next_out = reinterpret_cast<std::uint8_t*>(buf_.data());
    state_->avail_out = static_cast<std::uint32_t>(buf_.size());
    int rc = isal_inflate(state_.get());
    std::uint32_t used = avail - state_->avail_in;
    bytes_in_ += used;
    p += used;
    avail = state_->avail_in;
    if (rc < 0 || rc == ISAL_NEED_DICT) {
      fail("gzip stream: " + std::string(isal_error_text(rc)) + " in member " + std::to_string(member_) +
           " near byte " + std::to_string(bytes_in_));
    }
    std::size_t produced = buf_.size() - state_->avail_out;
    // A full output buffer may mean isa-l holds more output internally: call again even with no input.
    pending_output_ = state_->avail_out == 0;
    if (produced > 0) {
      bytes_out_ += produced;
      out(std::span<const std::byte>(buf_.data(), produced));
    }
    if (state_->block_state == ISAL_BLOCK_FINISH) {
      mode_ = Mode::kBetween;
      pending_output_ = false;
    } else if (!pending_output_ && used == 0 && avail > 0) {
      fail("gzip stream: inflate made no progress in member " + std::to_string(member_));
    }
  }

  std::unique_ptr<inflate_state> state_;
  std::vector<std::byte> buf_;
  GzipHeader header_;
  Mode mode_ = Mode::kHeader;
  std::uint64_t member_ = 1;
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
      // A call that moved nothing (after a frame ended, with no input left) reports the hint of the
      // next frame; only calls that did something tell where the stream stands.
      if (ib.pos != before || ob.pos > 0) hint_ = rc;
      if (ob.pos > 0) {
        bytes_out_ += ob.pos;
        out(std::span<const std::byte>(buf_.data(), ob.pos));
      }
      // Done when all input is consumed and a call produced nothing more (output may still be
      // pending inside the context even when a call did not fill the buffer).
      if (ib.pos == ib.size && ob.pos == 0) break;
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
    std::uint8_t b0 = byte_at(first, 0), b1 = byte_at(first, 1), b2 = byte_at(first, 2),
                 b3 = byte_at(first, 3);
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
