// Streaming tar parser: ustar, GNU long names/links, PAX extended and global headers.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "bocker/image/tar.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {

// ustar header field offsets and lengths.
constexpr std::size_t kName = 0, kNameLen = 100;
constexpr std::size_t kMode = 100, kUid = 108, kGid = 116, kNumLen = 8;
constexpr std::size_t kSize = 124, kMtime = 136, kBigLen = 12;
constexpr std::size_t kChksum = 148;
constexpr std::size_t kTypeflag = 156;
constexpr std::size_t kLinkname = 157;
constexpr std::size_t kMagic = 257;
constexpr std::size_t kDevmajor = 329, kDevminor = 337;
constexpr std::size_t kPrefix = 345, kPrefixLen = 155;

const unsigned char* u8(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }

// A NUL-terminated string field of at most n bytes.
std::string field_str(const std::byte* blk, std::size_t off, std::size_t n) {
  const char* s = reinterpret_cast<const char*>(blk + off);
  return std::string(s, strnlen(s, n));
}

// Printable rendering of a possibly hostile name for error messages.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 256)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > 256) out += "...";
  return out;
}

// Parses an octal or base-256 numeric field. Returns false if it is malformed or overflows.
bool parse_numeric(const std::byte* blk, std::size_t off, std::size_t n, std::int64_t& out) {
  const unsigned char* f = u8(blk + off);
  if (f[0] & 0x80) {
    // Base-256, big-endian two's complement; bit 6 of the first byte is the sign.
    const unsigned char inv = (f[0] & 0x40) ? 0xff : 0x00;
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i) {
      unsigned char c = f[i] ^ inv;
      if (i == 0) c &= 0x7f;
      if ((x >> 55) != 0) return false;  // would not fit in 63 bits
      x = (x << 8) | c;
    }
    if (x > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = inv ? ~static_cast<std::int64_t>(x) : static_cast<std::int64_t>(x);
    return true;
  }
  std::size_t b = 0, e = n;
  while (b < e && (f[b] == ' ' || f[b] == 0)) ++b;
  while (e > b && (f[e - 1] == ' ' || f[e - 1] == 0)) --e;
  std::uint64_t x = 0;
  for (std::size_t i = b; i < e; ++i) {
    if (f[i] < '0' || f[i] > '7') return false;
    x = x * 8 + (f[i] - '0');  // at most 12 digits: cannot overflow 64 bits
  }
  if (x > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
  out = static_cast<std::int64_t>(x);
  return true;
}

bool parse_decimal(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  std::int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + (c - '0');
  }
  out = x;
  return true;
}

// PAX time: [-]seconds[.fraction].
bool parse_pax_time(std::string_view s, std::int64_t& sec, std::uint32_t& nsec) {
  bool neg = false;
  if (!s.empty() && s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  std::string_view whole = s, frac;
  if (auto dot = s.find('.'); dot != std::string_view::npos) {
    whole = s.substr(0, dot);
    frac = s.substr(dot + 1);
  }
  if (!parse_decimal(whole, sec)) return false;
  std::uint32_t ns = 0;
  for (std::size_t i = 0; i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return false;
    if (i < 9) ns = ns * 10 + (frac[i] - '0');
  }
  for (std::size_t i = frac.size(); i < 9; ++i) ns *= 10;
  if (neg) {
    // -1.25 is 1.25 s before the epoch: sec -2, nsec 0.75e9.
    sec = -sec;
    if (ns != 0) {
      sec -= 1;
      ns = 1000000000u - ns;
    }
  }
  nsec = ns;
  return true;
}

bool all_zero(const std::byte* blk) {
  return std::all_of(blk, blk + kTarBlock, [](std::byte b) { return b == std::byte{0}; });
}

bool header_only(char type) {
  switch (type) {
    case tar_type::kHardlink:
    case tar_type::kSymlink:
    case tar_type::kChar:
    case tar_type::kBlock:
    case tar_type::kDirectory:
    case tar_type::kFifo:
      return true;
    default:
      return false;
  }
}

}  // namespace

void TarReader::fail(const std::string& what) {
  state_ = State::kFailed;
  throw invalid("tar: " + what);
}

void TarReader::feed(std::span<const std::byte> data) {
  if (state_ == State::kFailed) throw invalid("tar: reader used after an error");
  try {
    while (!data.empty()) {
      switch (state_) {
        case State::kHeader:
        case State::kSecondZero: {
          std::size_t n = std::min(kTarBlock - block_fill_, data.size());
          std::memcpy(block_ + block_fill_, data.data(), n);
          block_fill_ += n;
          offset_ += n;
          data = data.subspan(n);
          if (block_fill_ == kTarBlock) {
            block_fill_ = 0;
            on_block(block_);
          }
          break;
        }
        case State::kMeta: {
          std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(remaining_, data.size()));
          if (oversize_meta_ == 0) meta_.append(reinterpret_cast<const char*>(data.data()), n);
          remaining_ -= n;
          offset_ += n;
          data = data.subspan(n);
          if (remaining_ == 0) finish_meta();
          break;
        }
        case State::kData: {
          std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(remaining_, data.size()));
          remaining_ -= n;
          offset_ += n;
          sink_.on_data(data.first(n));
          data = data.subspan(n);
          if (remaining_ == 0) end_entry();
          break;
        }
        case State::kPadding: {
          std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(padding_, data.size()));
          padding_ -= n;
          offset_ += n;
          data = data.subspan(n);
          if (padding_ == 0) state_ = State::kHeader;
          break;
        }
        case State::kEnd:
          // Whatever follows the end-of-archive marker is drained and ignored, as Docker does.
          offset_ += data.size();
          data = {};
          break;
        case State::kFailed:
          throw invalid("tar: reader used after an error");
      }
    }
  } catch (...) {
    state_ = State::kFailed;
    throw;
  }
}

void TarReader::finish() {
  switch (state_) {
    case State::kHeader:
    case State::kSecondZero:
      if (block_fill_ != 0) {
        fail("truncated archive: incomplete header block at offset " + std::to_string(offset_ - block_fill_));
      }
      if (!pax_.empty() || have_long_name_ || have_long_link_ || oversize_meta_ != 0) {
        fail("truncated archive: extended header at end of archive is not followed by an entry");
      }
      break;
    case State::kMeta:
      fail("truncated archive: extended header for '" + printable(entry_name_) + "' is cut off, " +
           std::to_string(remaining_) + " bytes missing");
    case State::kData:
      fail("truncated archive: entry '" + printable(entry_name_) + "' is cut off, " +
           std::to_string(remaining_) + " bytes of data missing");
    case State::kPadding:
      fail("truncated archive: entry '" + printable(entry_name_) + "' is missing " +
           std::to_string(padding_) + " bytes of block padding");
    case State::kEnd:
      break;
    case State::kFailed:
      throw invalid("tar: reader used after an error");
  }
  state_ = State::kEnd;
  sink_.on_archive_end();
}

void TarReader::on_block(const std::byte* blk) {
  const std::uint64_t at = offset_ - kTarBlock;
  if (state_ == State::kSecondZero) {
    if (!all_zero(blk))
      fail("corrupt archive: lone zero block followed by data at offset " + std::to_string(at));
    state_ = State::kEnd;
    return;
  }
  if (all_zero(blk)) {
    if (!pax_.empty() || have_long_name_ || have_long_link_ || oversize_meta_ != 0) {
      fail("corrupt archive: extended header at offset " + std::to_string(at) +
           " is followed by end of archive");
    }
    state_ = State::kSecondZero;
    return;
  }
  start_entry(blk);
}

void TarReader::start_entry(const std::byte* blk) {
  const std::uint64_t at = offset_ - kTarBlock;
  std::string raw_name = field_str(blk, kName, kNameLen);
  entry_name_ = have_long_name_ ? long_name_ : raw_name;
  auto where = [&] { return "entry '" + printable(entry_name_) + "' at offset " + std::to_string(at); };

  // Checksum: the sum of all header bytes with the checksum field read as spaces. Some old tars
  // summed signed chars; accept either.
  std::int64_t stored = 0;
  if (!parse_numeric(blk, kChksum, kNumLen, stored)) fail(where() + ": malformed checksum field");
  std::int64_t usum = 0, ssum = 0;
  for (std::size_t i = 0; i < kTarBlock; ++i) {
    unsigned char c = (i >= kChksum && i < kChksum + kNumLen) ? ' ' : u8(blk)[i];
    usum += c;
    ssum += static_cast<signed char>(c);
  }
  if (stored != usum && stored != ssum) {
    fail(where() + ": bad header checksum (stored " + std::to_string(stored) + ", computed " +
         std::to_string(usum) + ")");
  }

  char type = static_cast<char>(blk[kTypeflag]);
  std::int64_t size = 0;
  if (!parse_numeric(blk, kSize, kBigLen, size)) fail(where() + ": malformed size field");
  if (size < 0) fail(where() + ": negative size " + std::to_string(size));

  if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
    // An over-limit header is skipped without being stored and reported with the entry it
    // belongs to, whose name only comes after it.
    if (size > kMaxTarMetaSize) oversize_meta_ = std::max(oversize_meta_, size);
    meta_type_ = type;
    meta_.clear();
    remaining_ = size;
    padding_ = (kTarBlock - size % kTarBlock) % kTarBlock;
    state_ = State::kMeta;
    if (remaining_ == 0) finish_meta();
    return;
  }

  if (oversize_meta_ != 0) {
    entry_name_ = raw_name;
    fail(where() + ": extended header of " + std::to_string(oversize_meta_) + " bytes exceeds the limit of " +
         std::to_string(kMaxTarMetaSize) + " bytes");
  }

  TarHeader h;
  const bool posix = std::memcmp(blk + kMagic, "ustar\0", 6) == 0;
  const bool gnu = std::memcmp(blk + kMagic, "ustar ", 6) == 0;
  h.name = raw_name;
  if (posix) {
    std::string prefix = field_str(blk, kPrefix, kPrefixLen);
    if (!prefix.empty()) h.name = prefix + "/" + raw_name;
  }
  h.linkname = field_str(blk, kLinkname, kNameLen);
  if (have_long_name_) h.name = long_name_;
  if (have_long_link_) h.linkname = long_link_;
  entry_name_ = h.name;

  std::int64_t mode = 0, uid = 0, gid = 0, mtime = 0, major = 0, minor = 0;
  if (!parse_numeric(blk, kMode, kNumLen, mode) || mode < 0) fail(where() + ": malformed mode field");
  if (!parse_numeric(blk, kUid, kNumLen, uid) || uid < 0) fail(where() + ": malformed uid field");
  if (!parse_numeric(blk, kGid, kNumLen, gid) || gid < 0) fail(where() + ": malformed gid field");
  if (!parse_numeric(blk, kMtime, kBigLen, mtime)) fail(where() + ": malformed mtime field");
  if (posix || gnu) {
    if (!parse_numeric(blk, kDevmajor, kNumLen, major) || major < 0 || major > 0xffffffffLL) {
      fail(where() + ": malformed devmajor field");
    }
    if (!parse_numeric(blk, kDevminor, kNumLen, minor) || minor < 0 || minor > 0xffffffffLL) {
      fail(where() + ": malformed devminor field");
    }
  }
  h.mode = static_cast<std::uint32_t>(mode & 07777);
  h.uid = uid;
  h.gid = gid;
  h.size = size;
  h.mtime_sec = mtime;
  h.devmajor = static_cast<std::uint32_t>(major);
  h.devminor = static_cast<std::uint32_t>(minor);

  // PAX records: globals first, then this entry's own ('x' overrides 'g'; an empty value in 'x'
  // removes the global one).
  std::unordered_map<std::string, std::string> pax = global_;
  for (auto& [k, v] : pax_) {
    if (v.empty()) {
      pax.erase(k);
    } else {
      pax[k] = v;
    }
  }
  for (auto& [k, v] : pax) {
    if (k == "path") {
      h.name = v;
    } else if (k == "linkpath") {
      h.linkname = v;
    } else if (k == "size") {
      if (!parse_decimal(v, h.size)) fail(where() + ": bad PAX size '" + printable(v) + "'");
    } else if (k == "mtime") {
      if (!parse_pax_time(v, h.mtime_sec, h.mtime_nsec))
        fail(where() + ": bad PAX mtime '" + printable(v) + "'");
    } else if (k == "uid") {
      if (!parse_decimal(v, h.uid)) fail(where() + ": bad PAX uid '" + printable(v) + "'");
    } else if (k == "gid") {
      if (!parse_decimal(v, h.gid)) fail(where() + ": bad PAX gid '" + printable(v) + "'");
    } else if (k.starts_with("SCHILY.xattr.")) {
      std::string attr = k.substr(13);
      if (attr.empty()) fail(where() + ": PAX xattr record without a name");
      h.xattrs[attr] = v;
    } else if (k.starts_with("GNU.sparse.")) {
      fail(where() + ": GNU sparse files are not supported");
    }
    // uname, gname, atime, ctime, comment, charset and unknown keys are ignored.
  }
  pax_.clear();
  have_long_name_ = have_long_link_ = false;
  long_name_.clear();
  long_link_.clear();
  entry_name_ = h.name;

  if (h.name.empty()) fail("entry at offset " + std::to_string(at) + " has an empty name");
  if (h.name.find('\0') != std::string::npos || h.linkname.find('\0') != std::string::npos) {
    fail(where() + ": name or link name contains a NUL byte");
  }
  if (type == '\0' || type == '7')
    type = h.name.ends_with('/') && type == '\0' ? tar_type::kDirectory : tar_type::kRegular;
  h.type = type;

  // Header-only types carry no data whatever their size field says (as Go's archive/tar reads them).
  remaining_ = header_only(type) ? 0 : h.size;
  if (header_only(type)) h.size = 0;
  padding_ = (kTarBlock - remaining_ % kTarBlock) % kTarBlock;
  sink_.on_entry(h);
  state_ = State::kData;
  if (remaining_ == 0) end_entry();
}

void TarReader::end_entry() {
  sink_.on_entry_end();
  state_ = padding_ > 0 ? State::kPadding : State::kHeader;
}

void TarReader::finish_meta() {
  auto where = [&] {
    return "extended header (type '" + std::string(1, meta_type_) + "') before entry '" +
           printable(entry_name_) + "'";
  };
  if (oversize_meta_ != 0) {
    // Dropped; start_entry reports it.
  } else if (meta_type_ == 'L' || meta_type_ == 'K') {
    std::string v = meta_.substr(0, strnlen(meta_.data(), meta_.size()));
    if (v.empty()) fail(where() + ": empty GNU long name");
    if (meta_type_ == 'L') {
      long_name_ = std::move(v);
      have_long_name_ = true;
      entry_name_ = long_name_;
    } else {
      long_link_ = std::move(v);
      have_long_link_ = true;
    }
  } else {
    auto& dest = meta_type_ == 'g' ? global_ : pax_;
    std::string_view s = meta_;
    while (!s.empty()) {
      // "<len> <key>=<value>\n", len counting the whole record.
      std::size_t sp = s.find(' ');
      std::int64_t len = 0;
      if (sp == std::string_view::npos || !parse_decimal(s.substr(0, sp), len) ||
          len <= static_cast<std::int64_t>(sp) + 1 || len > static_cast<std::int64_t>(s.size())) {
        fail(where() + ": malformed PAX record length");
      }
      std::string_view rec = s.substr(sp + 1, len - sp - 1);
      s.remove_prefix(len);
      if (rec.back() != '\n') fail(where() + ": PAX record not terminated by a newline");
      rec.remove_suffix(1);
      std::size_t eq = rec.find('=');
      if (eq == std::string_view::npos || eq == 0) fail(where() + ": malformed PAX record");
      std::string key(rec.substr(0, eq));
      if (key.find('\0') != std::string::npos) fail(where() + ": PAX key contains a NUL byte");
      // Path and size make no sense for every following entry; globals keep only the rest.
      if (meta_type_ == 'g' && (key == "path" || key == "linkpath" || key == "size")) continue;
      if (meta_type_ == 'g' && rec.size() == eq + 1) {
        dest.erase(key);
      } else {
        dest[key] = std::string(rec.substr(eq + 1));
      }
    }
  }
  meta_.clear();
  state_ = padding_ > 0 ? State::kPadding : State::kHeader;
}

}  // namespace bocker::image
