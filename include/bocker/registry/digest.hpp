// Content digests ("sha256:<64 lowercase hex>") and an incremental SHA-256 hasher.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace bocker::registry {

// A validated content digest. Accepted algorithms are sha256, sha384 and sha512 (the OCI registered
// ones), each with exactly its length of lowercase hex; only sha256 is ever computed here.
struct Digest {
  std::string algorithm;  // "sha256"
  std::string hex;        // lowercase, 64 characters for sha256

  // Throws bocker::Error (kInvalid) naming the input and the reason.
  static Digest parse(std::string_view text);
  std::string str() const { return algorithm + ":" + hex; }
  bool operator==(const Digest&) const = default;
};

// True when `text` is a digest Digest::parse accepts; `why` (if given) receives the reason otherwise.
bool is_valid_digest(std::string_view text, std::string* why = nullptr);

// Incremental SHA-256 over OpenSSL EVP. finish() returns "sha256:<hex>" and resets the hasher so it can
// be used again. Move-only; the EVP context is freed with the object.
class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&&) noexcept = default;
  Sha256& operator=(Sha256&&) noexcept = default;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::byte> data);
  void update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }
  std::string finish();
  std::size_t bytes() const noexcept { return bytes_; }  // fed since the last finish()

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
  };
  void init();
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
  std::size_t bytes_ = 0;
};

// One-shot "sha256:<hex>" of `data`.
std::string sha256_digest(std::string_view data);

}  // namespace bocker::registry
