#include "bocker/registry/reference.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

using ::testing::HasSubstr;

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Good {
  const char* input;
  const char* domain;
  const char* path;
  const char* tag;
  const char* digest_hex;  // empty or kHex-based
  const char* canonical;
  const char* familiar;
};

void PrintTo(const Good& g, std::ostream* os) { *os << '"' << g.input << '"'; }

class ReferenceGood : public ::testing::TestWithParam<Good> {};

TEST_P(ReferenceGood, ParsesAndNormalizes) {
  const Good& g = GetParam();
  std::string input = g.input;
  std::string canonical = g.canonical;
  std::string familiar = g.familiar;
  auto fill = [&](std::string& s) {
    for (std::size_t p; (p = s.find("HEX")) != std::string::npos;) s.replace(p, 3, kHex);
  };
  fill(input);
  fill(canonical);
  fill(familiar);
  Reference r = parse_reference(input);
  EXPECT_EQ(r.domain, g.domain);
  EXPECT_EQ(r.path, g.path);
  EXPECT_EQ(r.tag, g.tag);
  EXPECT_EQ(r.digest, std::string(g.digest_hex).empty() ? "" : "sha256:" + kHex);
  EXPECT_EQ(r.str(), canonical);
  EXPECT_EQ(r.familiar(), familiar);
  // Both forms parse back to the same reference.
  EXPECT_EQ(parse_reference(r.str()), r);
  EXPECT_EQ(parse_reference(r.familiar()), r);
}

INSTANTIATE_TEST_SUITE_P(
    Docker, ReferenceGood,
    ::testing::Values(
        Good{"busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest",
             "busybox:latest"},
        Good{"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36",
             "busybox:1.36"},
        Good{"user/img", "docker.io", "user/img", "latest", "", "docker.io/user/img:latest",
             "user/img:latest"},
        Good{"user/img:tag", "docker.io", "user/img", "tag", "", "docker.io/user/img:tag", "user/img:tag"},
        Good{"docker.io/busybox", "docker.io", "library/busybox", "latest", "",
             "docker.io/library/busybox:latest", "busybox:latest"},
        Good{"index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", "",
             "docker.io/library/alpine:3", "alpine:3"},
        Good{"docker.io/library/a/b", "docker.io", "library/a/b", "latest", "",
             "docker.io/library/a/b:latest", "library/a/b:latest"},
        Good{"localhost/a", "localhost", "a", "latest", "", "localhost/a:latest", "localhost/a:latest"},
        Good{"localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", "", "localhost:5000/a/b:tag",
             "localhost:5000/a/b:tag"},
        Good{"quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", "",
             "quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"},
        Good{"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", "", "127.0.0.1:5000/x:latest",
             "127.0.0.1:5000/x:latest"},
        Good{"[::1]:5000/x:t", "[::1]:5000", "x", "t", "", "[::1]:5000/x:t", "[::1]:5000/x:t"},
        Good{"Registry.Example/x", "Registry.Example", "x", "latest", "", "Registry.Example/x:latest",
             "Registry.Example/x:latest"},
        Good{"Foo/bar", "Foo", "bar", "latest", "", "Foo/bar:latest", "Foo/bar:latest"},
        Good{"busybox@sha256:HEX", "docker.io", "library/busybox", "", "x",
             "docker.io/library/busybox@sha256:HEX", "busybox@sha256:HEX"},
        Good{"busybox:1@sha256:HEX", "docker.io", "library/busybox", "1", "x",
             "docker.io/library/busybox:1@sha256:HEX", "busybox:1@sha256:HEX"},
        Good{"localhost:5000/a@sha256:HEX", "localhost:5000", "a", "", "x", "localhost:5000/a@sha256:HEX",
             "localhost:5000/a@sha256:HEX"},
        Good{"my-reg.example.com/g", "my-reg.example.com", "g", "latest", "", "my-reg.example.com/g:latest",
             "my-reg.example.com/g:latest"},
        Good{"a/b.c_d__e-f---g", "docker.io", "a/b.c_d__e-f---g", "latest", "",
             "docker.io/a/b.c_d__e-f---g:latest", "a/b.c_d__e-f---g:latest"},
        Good{"docker.io/foo.com/bar", "docker.io", "foo.com/bar", "latest", "",
             "docker.io/foo.com/bar:latest", "docker.io/foo.com/bar:latest"},
        Good{"img:_Tag.-x", "docker.io", "library/img", "_Tag.-x", "", "docker.io/library/img:_Tag.-x",
             "img:_Tag.-x"},
        Good{"localhost:5000", "docker.io", "library/localhost", "5000", "",
             "docker.io/library/localhost:5000", "localhost:5000"}));

struct Bad {
  std::string input;
  const char* reason;
};

void PrintTo(const Bad& b, std::ostream* os) { *os << '"' << b.input.substr(0, 60) << '"'; }

class ReferenceBad : public ::testing::TestWithParam<Bad> {};

TEST_P(ReferenceBad, RejectsWithReason) {
  const Bad& b = GetParam();
  try {
    (void)parse_reference(b.input);
    FAIL() << "accepted " << b.input;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_THAT(e.what(), HasSubstr("invalid reference format"));
    EXPECT_THAT(e.what(), HasSubstr(b.reason)) << e.what();
    if (!b.input.empty() && b.input.size() < 200) {
      EXPECT_THAT(e.what(), HasSubstr(b.input));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Docker, ReferenceBad,
    ::testing::Values(
        Bad{"", "at least one component"}, Bad{"Busybox", "must be lowercase"},
        Bad{"user/Img", "must be lowercase"}, Bad{"docker.io/Library/x", "must be lowercase"},
        Bad{":tag", "at least one component"}, Bad{"@sha256:" + kHex, "at least one component"},
        Bad{"busybox:", "invalid tag"}, Bad{"busybox:-x", "invalid tag"}, Bad{"busybox:a b", "invalid tag"},
        Bad{"busybox:" + std::string(129, 'a'), "longer than 128"}, Bad{kHex, "64-byte hexadecimal"},
        Bad{"busybox@sha256:abc", "digest length"},
        Bad{"busybox@md5:" + kHex, "unsupported digest algorithm"},
        Bad{"busybox@sha256:" + std::string(64, 'A'), "lowercase"}, Bad{"busybox@", "invalid digest"},
        Bad{"busybox@sha256:" + kHex + "@x", "invalid digest"}, Bad{"a//b", "empty path component"},
        Bad{"a/", "empty path component"}, Bad{"/a", "empty path component"},
        Bad{"a/-b", "invalid repository name component"}, Bad{"a/b-", "invalid repository name component"},
        Bad{"a/b..c", "invalid repository name component"},
        Bad{"a/b___c", "invalid repository name component"},
        Bad{"a/b$c", "invalid repository name component"}, Bad{"-x.com/a", "invalid registry domain"},
        Bad{"x-.com/a", "invalid registry domain"}, Bad{"a.b_c/g", "invalid registry domain"},
        Bad{"x..com/a", "invalid registry domain"}, Bad{"host:/a", "invalid registry domain"},
        Bad{"host:12a/a", "invalid registry domain"}, Bad{"[zz]:5000/a", "invalid registry domain"},
        Bad{"[::1/a", "invalid registry domain"}, Bad{"localhost:5000/", "at least one component"},
        Bad{"a/" + std::string(250, 'b'), "not be more than 255 characters"},
        Bad{"bad name", "invalid repository name component"}));

TEST(Reference, LengthLimitIsOnTheNormalizedName) {
  // docker.io/ is 10 characters: 245 after it is exactly 255.
  std::string path = "a/" + std::string(243, 'b');
  Reference r = parse_reference(path);
  EXPECT_EQ(r.name().size(), 255u);
  EXPECT_THROW((void)parse_reference(path + "b"), Error);
}

TEST(Reference, TagOf128CharactersIsAccepted) {
  std::string tag(128, 'x');
  EXPECT_EQ(parse_reference("busybox:" + tag).tag, tag);
  EXPECT_TRUE(is_valid_tag("_"));
  EXPECT_FALSE(is_valid_tag(".x"));
  EXPECT_FALSE(is_valid_tag(""));
}

TEST(Reference, ApiHost) {
  EXPECT_EQ(parse_reference("busybox").api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse_reference("index.docker.io/user/x").api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse_reference("localhost:5000/a").api_host(), "localhost:5000");
  EXPECT_EQ(parse_reference("ghcr.io/o/r").api_host(), "ghcr.io");
  EXPECT_EQ(registry_api_host("docker.io"), "registry-1.docker.io");
}

TEST(Reference, NameAndFamiliarName) {
  Reference r = parse_reference("busybox:1@sha256:" + kHex);
  EXPECT_EQ(r.name(), "docker.io/library/busybox");
  EXPECT_EQ(r.familiar_name(), "busybox");
  EXPECT_EQ(parse_reference("user/x").familiar_name(), "user/x");
  EXPECT_EQ(parse_reference("localhost:5000/a/b").familiar_name(), "localhost:5000/a/b");
}

TEST(Reference, LongInputIsTruncatedInMessage) {
  std::string input(10000, 'A');
  try {
    (void)parse_reference(input);
    FAIL();
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 500u);
    EXPECT_THAT(e.what(), HasSubstr("..."));
  }
}

}  // namespace
}  // namespace bocker::registry
