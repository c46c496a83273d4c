#include "bocker/image/ids.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {
constexpr std::string_view kPrefix = "sha256:";
constexpr std::size_t kHexLen = 64;

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// Printable, bounded rendering of untrusted input for error messages.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : s) {
    if (++n > 80) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}
}  // namespace

bool is_sha256_digest(std::string_view d) noexcept {
  if (d.size() != kPrefix.size() + kHexLen || d.substr(0, kPrefix.size()) != kPrefix) return false;
  for (char c : d.substr(kPrefix.size())) {
    if (!is_lower_hex(c)) return false;
  }
  return true;
}

std::string_view sha256_hex(std::string_view digest, std::string_view what) {
  if (is_sha256_digest(digest)) return digest.substr(kPrefix.size());
  std::string why;
  if (digest.substr(0, kPrefix.size()) != kPrefix) {
    why = "want sha256:<64 lowercase hex digits>";
  } else if (digest.size() != kPrefix.size() + kHexLen) {
    why = "want 64 hex digits, got " + std::to_string(digest.size() - kPrefix.size());
  } else {
    why = "hex digits must be lowercase 0-9a-f";
  }
  throw invalid("invalid " + std::string(what) + " digest " + quoted(digest) + ": " + why);
}

std::vector<std::string> chain_ids(std::span<const std::string> diff_ids) {
  std::vector<std::string> out;
  out.reserve(diff_ids.size());
  registry::Sha256 h;
  for (const auto& d : diff_ids) {
    sha256_hex(d, "diff id");
    if (out.empty()) {
      out.push_back(d);
      continue;
    }
    h.update(out.back());
    h.update(" ");
    h.update(d);
    out.push_back(h.finish());
  }
  return out;
}

std::string chain_id(std::span<const std::string> diff_ids) {
  auto ids = chain_ids(diff_ids);
  return ids.empty() ? std::string() : ids.back();
}

std::string short_id(std::string_view id) {
  if (id.substr(0, kPrefix.size()) == kPrefix) id.remove_prefix(kPrefix.size());
  return std::string(id.substr(0, 12));
}

std::string random_id() {
  std::array<std::uint8_t, 32> raw{};
  std::size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = ::getrandom(raw.data() + got, raw.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "getrandom", "");
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : raw) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace bocker::image
