#include "bocker/registry/digest.hpp"

#include <array>
#include <cstdint>

#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
bool is_hex(char c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); }

// algorithm-component ([+._-] algorithm-component)*, component = [a-z0-9]+ (OCI image spec).
bool valid_algorithm_syntax(std::string_view a) {
  if (a.empty()) return false;
  bool need_alnum = true;
  for (char c : a) {
    if (is_alpha(c) || is_digit(c)) {
      need_alnum = false;
    } else if (c == '+' || c == '.' || c == '_' || c == '-') {
      if (need_alnum) return false;
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

std::size_t expected_hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha384") return 96;
  if (algorithm == "sha512") return 128;
  return 0;
}

std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 200;
  std::string out = "\"";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  out += '"';
  return out;
}

}  // namespace

bool is_valid_digest(std::string_view text, std::string* why) {
  auto fail = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail("missing algorithm separator ':'");
  std::string_view algorithm = text.substr(0, colon);
  std::string_view hex = text.substr(colon + 1);
  if (!valid_algorithm_syntax(algorithm)) return fail("invalid algorithm");
  std::size_t want = expected_hex_length(algorithm);
  if (want == 0) return fail("unsupported digest algorithm");
  for (char c : hex) {
    if (!is_lower_hex(c)) {
      return fail(is_hex(c) ? "hex must be lowercase" : "invalid hex character");
    }
  }
  if (hex.size() != want) return fail("invalid checksum digest length");
  return true;
}

Digest Digest::parse(std::string_view text) {
  std::string why;
  if (!is_valid_digest(text, &why)) throw invalid("invalid digest " + quote(text) + ": " + why);
  std::size_t colon = text.find(':');
  return Digest{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

Sha256::Sha256() { init(); }

void Sha256::init() {
  if (!ctx_) {
    ctx_.reset(EVP_MD_CTX_new());
    if (!ctx_) throw Error("EVP_MD_CTX_new for sha256: out of memory");
  }
  if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    throw Error("EVP_DigestInit_ex sha256: failed");
  }
  bytes_ = 0;
}

void Sha256::update(std::span<const std::byte> data) {
  if (!ctx_) throw Error("sha256 update: hasher was moved from");
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    throw Error("EVP_DigestUpdate sha256: failed");
  }
  bytes_ += data.size();
}

std::string Sha256::finish() {
  if (!ctx_) throw Error("sha256 finish: hasher was moved from");
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), md.data(), &len) != 1 || len != 32) {
    throw Error("EVP_DigestFinal_ex sha256: failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  out.reserve(7 + 64);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  init();
  return out;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace bocker::registry
