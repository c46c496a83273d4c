#include "bocker/registry/digest.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

using ::testing::HasSubstr;

TEST(Digest, ParsesSha256) {
  std::string hex(64, 'a');
  Digest d = Digest::parse("sha256:" + hex);
  EXPECT_EQ(d.algorithm, "sha256");
  EXPECT_EQ(d.hex, hex);
  EXPECT_EQ(d.str(), "sha256:" + hex);
}

TEST(Digest, AcceptsSha384AndSha512Syntax) {
  EXPECT_TRUE(is_valid_digest("sha512:" + std::string(128, '0')));
  EXPECT_TRUE(is_valid_digest("sha384:" + std::string(96, 'f')));
  EXPECT_FALSE(is_valid_digest("sha512:" + std::string(64, '0')));
}

TEST(Digest, RejectsWithReason) {
  struct Case {
    std::string input;
    const char* reason;
  };
  std::vector<Case> cases = {
      {"", "missing algorithm separator"},
      {"sha256", "missing algorithm separator"},
      {":" + std::string(64, 'a'), "invalid algorithm"},
      {"sha-:" + std::string(64, 'a'), "invalid algorithm"},
      {"sh a:" + std::string(64, 'a'), "invalid algorithm"},
      {"md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
      {"sha256:" + std::string(63, 'a'), "invalid checksum digest length"},
      {"sha256:" + std::string(65, 'a'), "invalid checksum digest length"},
      {"sha256:", "invalid checksum digest length"},
      {"sha256:" + std::string(64, 'A'), "hex must be lowercase"},
      {"sha256:" + std::string(63, 'a') + "g", "invalid hex character"},
      {"sha256:" + std::string(63, 'a') + "\n", "invalid hex character"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(is_valid_digest(c.input, &why)) << c.input;
    EXPECT_THAT(why, HasSubstr(c.reason)) << c.input;
    try {
      (void)Digest::parse(c.input);
      ADD_FAILURE() << "accepted " << c.input;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_THAT(e.what(), HasSubstr("invalid digest"));
      EXPECT_THAT(e.what(), HasSubstr(c.reason));
    }
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_digest("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 31 + 7);
  Sha256 h;
  for (std::size_t pos = 0; pos < data.size(); pos += 777) h.update(std::string_view(data).substr(pos, 777));
  EXPECT_EQ(h.bytes(), data.size());
  std::string inc = h.finish();
  EXPECT_EQ(inc, sha256_digest(data));
  EXPECT_TRUE(is_valid_digest(inc));
}

TEST(Sha256, FinishResetsAndSpanOverloadWorks) {
  Sha256 h;
  h.update("junk");
  (void)h.finish();
  EXPECT_EQ(h.bytes(), 0u);
  std::string abc = "abc";
  h.update(std::as_bytes(std::span(abc.data(), abc.size())));
  EXPECT_EQ(h.finish(), sha256_digest("abc"));
}

TEST(Sha256, MovedHasherKeepsState) {
  Sha256 a;
  a.update("ab");
  Sha256 b = std::move(a);
  b.update("c");
  EXPECT_EQ(b.finish(), sha256_digest("abc"));
  EXPECT_THROW(a.update("x"), Error);  // NOLINT(bugprone-use-after-move): moved-from reports, no crash
}

}  // namespace
}  // namespace bocker::registry
