// WWW-Authenticate parsing, docker config.json credentials, X-Registry-Auth and the token cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "bocker/registry/auth.hpp"
#include "bocker/registry/client.hpp"
#include "bocker/runtime/error.hpp"
#include "registry_fixture.hpp"

using namespace bocker::registry;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

TEST(Challenge, BearerWithQuotedParams) {
  auto cs = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  EXPECT_EQ(cs[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(cs[0].param("service"), "registry.docker.io");
  EXPECT_EQ(cs[0].param("scope"), "repository:library/busybox:pull");
}

TEST(Challenge, BasicWithTokenValueAndCaseInsensitiveNames) {
  auto cs = parse_www_authenticate("BASIC Realm=registry");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].param("realm"), "registry");
}

TEST(Challenge, EscapesCommasAndSpacesInQuotedStrings) {
  auto cs = parse_www_authenticate(R"(Basic realm = "a \"quoted\", realm\\x" , charset="UTF-8")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].param("realm"), R"(a "quoted", realm\x)");
  EXPECT_EQ(cs[0].param("charset"), "UTF-8");
}

TEST(Challenge, SeveralChallengesInOneHeader) {
  auto cs = parse_www_authenticate(
      R"(Negotiate, Basic realm="r1", Bearer realm="https://t/token",service="s", NTLM abc+/==)");
  ASSERT_EQ(cs.size(), 4u);
  EXPECT_EQ(cs[0].scheme, "negotiate");
  EXPECT_TRUE(cs[0].params.empty());
  EXPECT_EQ(cs[1].scheme, "basic");
  EXPECT_EQ(cs[1].param("realm"), "r1");
  EXPECT_EQ(cs[2].scheme, "bearer");
  EXPECT_EQ(cs[2].param("service"), "s");
  EXPECT_EQ(cs[3].scheme, "ntlm");
  EXPECT_EQ(cs[3].token68, "abc+/==");
}

TEST(Challenge, MalformedHeadersAreRejectedWithOffset) {
  for (const char* bad : {R"(Bearer realm="unterminated)", "Bearer realm=", "=x", R"(Basic realm="a" "b")",
                          "Bearer @x", R"(Bearer realm="a",=b)"}) {
    try {
      parse_www_authenticate(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const bocker::Error& e) {
      EXPECT_EQ(e.kind(), bocker::Error::Kind::kInvalid) << bad;
      EXPECT_THAT(e.what(), HasSubstr("invalid WWW-Authenticate header at offset")) << bad;
    }
  }
  EXPECT_TRUE(parse_www_authenticate("").empty());
  EXPECT_TRUE(parse_www_authenticate(" , ").empty());
  // A bare word after a scheme is a token68 (RFC 7235), not an error.
  EXPECT_EQ(parse_www_authenticate("Bearer realm").at(0).token68, "realm");
}

TEST(Base64, RoundTripAndBothAlphabets) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\xff\xfe\x00\x01", 4)}) {
    EXPECT_EQ(base64_decode(base64_encode(s), "t"), s);
  }
  EXPECT_EQ(base64_decode("-_8", "t"), base64_decode("+/8=", "t"));
  EXPECT_THROW(base64_decode("a*b", "t"), bocker::Error);
  EXPECT_THROW(base64_decode("a", "t"), bocker::Error);
  EXPECT_EQ(basic_authorization({"user", "secret", ""}), "Basic dXNlcjpzZWNyZXQ=");
}

TEST(DockerConfig, FindsCredentialsByHostAndDockerHubKey) {
  std::string cfg = R"({"auths":{
      "https://index.docker.io/v1/":{"auth":")" +
                    base64_encode("hubuser:hubpass") + R"("},
      "registry.example.com:5000":{"auth":")" +
                    base64_encode("me:p:w") + R"("},
      "https://other.example.com/v1/":{"username":"u2","password":"p2"},
      "empty.example.com":{}}})";
  auto hub = credentials_from_config(cfg, "registry-1.docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "hubuser");
  EXPECT_EQ(hub->password, "hubpass");
  EXPECT_TRUE(credentials_from_config(cfg, "docker.io"));
  auto own = credentials_from_config(cfg, "registry.example.com:5000");
  ASSERT_TRUE(own);
  EXPECT_EQ(own->username, "me");
  EXPECT_EQ(own->password, "p:w") << "only the first colon separates user and password";
  auto other = credentials_from_config(cfg, "other.example.com");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->password, "p2");
  EXPECT_FALSE(credentials_from_config(cfg, "empty.example.com"));
  EXPECT_FALSE(credentials_from_config(cfg, "registry.example.com")) << "the port is part of the key";
  EXPECT_FALSE(credentials_from_config(R"({"credsStore":"desktop"})", "docker.io"));
  EXPECT_EQ(credential_key("index.docker.io"), "https://index.docker.io/v1/");
  EXPECT_EQ(credential_key("127.0.0.1:5000"), "127.0.0.1:5000");
}

TEST(DockerConfig, MalformedConfigNamesTheSource) {
  try {
    credentials_from_config(R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})", "h", "/x/config.json");
    FAIL() << "accepted an auth without a colon";
  } catch (const bocker::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/x/config.json: auths.h.auth"));
  }
  EXPECT_THROW(credentials_from_config("[1]", "h"), bocker::Error);
  EXPECT_THROW(credentials_from_config(R"({"auths":[]})", "h"), bocker::Error);
}

TEST(DockerConfig, ReadsTheFileUnderDOCKER_CONFIG) {
  bocker::registry::testing::TempDir dir;
  bocker::registry::testing::write_text(
      dir.file("config.json"),
      R"({"auths":{"127.0.0.1:5000":{"auth":")" + base64_encode("alice:wonder") + R"("}}})");
  const char* old = std::getenv("DOCKER_CONFIG");
  std::string saved = old ? old : "";
  ::setenv("DOCKER_CONFIG", dir.path().c_str(), 1);
  EXPECT_EQ(docker_config_path(), dir.file("config.json"));
  auto c = load_docker_credentials("127.0.0.1:5000");
  if (old) {
    ::setenv("DOCKER_CONFIG", saved.c_str(), 1);
  } else {
    ::unsetenv("DOCKER_CONFIG");
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->username, "alice");
  EXPECT_FALSE(load_docker_credentials("127.0.0.1:5000", dir.file("missing.json")));
}

TEST(RegistryAuthHeader, DecodesDockerCliPayload) {
  std::string json = R"({"username":"bob","password":"s3cr?t>>","serveraddress":"127.0.0.1:5000"})";
  std::string b64 = base64_encode(json);
  // The docker CLI sends the URL-safe alphabet.
  std::string url_safe = b64;
  for (char& c : url_safe) c = c == '+' ? '-' : c == '/' ? '_' : c;
  for (const std::string& h : {b64, url_safe}) {
    RegistryAuth a = decode_registry_auth(h);
    EXPECT_EQ(a.credentials.username, "bob");
    EXPECT_EQ(a.credentials.password, "s3cr?t>>");
    EXPECT_EQ(a.server_address, "127.0.0.1:5000");
  }
  EXPECT_TRUE(decode_registry_auth("").credentials.empty());
  EXPECT_TRUE(decode_registry_auth(base64_encode("{}")).credentials.empty());
  EXPECT_THROW(decode_registry_auth(base64_encode("not json")), bocker::Error);
  EXPECT_THROW(decode_registry_auth(base64_encode(R"({"username":7})")), bocker::Error);
}

TEST(TokenCacheTest, ExpiresPerHostAndScope) {
  TokenCache cache;
  auto now = TokenCache::Clock::now();
  cache.put("h", "repository:a:pull", "tok", 60s, now);
  EXPECT_EQ(cache.get("h", "repository:a:pull", now + 30s), "tok");
  EXPECT_FALSE(cache.get("h", "repository:b:pull", now));
  EXPECT_FALSE(cache.get("other", "repository:a:pull", now));
  EXPECT_FALSE(cache.get("h", "repository:a:pull", now + 60s));
}

TEST(TokenResponseTest, TokenOrAccessTokenAndMinimumLifetime) {
  auto t = parse_token_response(R"({"token":"abc","expires_in":300})", "r");
  EXPECT_EQ(t.token, "abc");
  EXPECT_EQ(t.expires_in, 300s);
  auto a = parse_token_response(R"({"access_token":"xyz","expires_in":5})", "r");
  EXPECT_EQ(a.token, "xyz");
  EXPECT_EQ(a.expires_in, 60s);
  EXPECT_EQ(parse_token_response(R"({"token":"t"})", "r").expires_in, 60s);
  EXPECT_THROW(parse_token_response(R"({"expires_in":3})", "r"), bocker::Error);
  EXPECT_THROW(parse_token_response("<html>", "r"), bocker::Error);
}

TEST(RegistryErrors, DecodedLikeDocker) {
  std::string code;
  EXPECT_EQ(
      describe_registry_errors(
          R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]})",
          &code),
      "manifest unknown: manifest unknown");
  EXPECT_EQ(code, "MANIFEST_UNKNOWN");
  EXPECT_EQ(
      describe_registry_errors(R"({"errors":[{"code":"UNAUTHORIZED"},{"code":"DENIED","message":"no"}]})"),
      "unauthorized; denied: no");
  EXPECT_EQ(describe_registry_errors("404 page not found"), "");
}

}  // namespace
