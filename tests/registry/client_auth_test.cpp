// Authentication against real servers: docker-registry with htpasswd over TLS (self-signed CA),
// and the Bearer token flow with an in-test token server and registry endpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bocker/registry/client.hpp"
#include "bocker/runtime/runtime.hpp"
#include "registry_fixture.hpp"

namespace rt = bocker::rt;
using namespace bocker::registry;
using namespace bocker::registry::testing;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

std::optional<Credentials> none(const std::string&) { return std::nullopt; }

class TlsBasicAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_REGISTRY();
    if (::access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl is not installed";
    if (sh("/usr/bin/python3 -W ignore -c 'import crypt' 2>/dev/null") != 0) {
      GTEST_SKIP() << "/usr/bin/python3 with the crypt module is needed for a bcrypt htpasswd";
    }
    const std::string d = dir_.path();
    write_text(dir_.file("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    std::string cmd =
        "cd " + d +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out "
        "ca.crt"
        " -days 2 -subj /CN=bocker-test-ca"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr"
        " -subj /CN=127.0.0.1"
        " && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2"
        " -extfile san.ext";
    ASSERT_EQ(sh("(" + cmd + ") >" + d + "/openssl.log 2>&1"), 0) << read_text(dir_.file("openssl.log"));
    std::string htpasswd = dir_.file("htpasswd");
    ASSERT_EQ(sh("/usr/bin/python3 -W ignore -c \"import crypt; print('alice:' + crypt.crypt('wonderland', "
                 "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))\" > " +
                 htpasswd),
              0);
    registry_ = std::make_unique<RegistryServer>(
        dir_, RegistryConfig{dir_.file("srv.crt"), dir_.file("srv.key"), htpasswd});
    image_ = Pusher(registry_->url(), "alice:wonderland", dir_.file("ca.crt"))
                 .push_image("secure/app", "v1", 4096);
  }
  void TearDown() override {
    if (HasFailure() && registry_) std::cerr << "docker-registry log:\n" << registry_->log();
    registry_.reset();
  }

  ClientOptions options(std::optional<Credentials> creds, bool with_ca = true) {
    ClientOptions o;
    if (with_ca) o.ca_file = dir_.file("ca.crt");
    o.credentials = [creds](const std::string&) { return creds; };
    return o;
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  Pusher::Image image_;
};

TEST_F(TlsBasicAuthTest, CredentialsGetTheManifestOverVerifiedTls) {
  std::string host = registry_->host();
  auto o = options(Credentials{"alice", "wonderland", ""});
  ManifestResponse m = run_with_curl([&](CurlLoop& curl) -> rt::Task<ManifestResponse> {
    RegistryClient c(curl, host, o);
    EXPECT_EQ(c.base_url(), "https://" + host);
    auto out = co_await c.get_manifest("secure/app", "v1");
    // The client remembers that the registry wants Basic: the blob goes without a 401 round.
    std::string blob;
    co_await c.get_blob("secure/app", image_.layer_digest,
                        BlobSink{[&](std::span<const std::byte> b) {
                                   blob.append(reinterpret_cast<const char*>(b.data()), b.size());
                                 },
                                 {}});
    EXPECT_TRUE(blob == image_.layer);
    co_return out;
  });
  EXPECT_EQ(m.body, image_.manifest);
  EXPECT_EQ(m.digest, image_.manifest_digest);
}

TEST_F(TlsBasicAuthTest, WithoutCredentialsIsUnauthorized) {
  std::string host = registry_->host();
  auto o = options(std::nullopt);
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      RegistryClient c(curl, host, o);
      co_await c.get_manifest("secure/app", "v1");
      co_return 0;
    });
    FAIL() << "no error without credentials";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("unauthorized: authentication required"));
    EXPECT_THAT(e.what(), HasSubstr("https://" + host + "/v2/secure/app/manifests/v1"));
  }
}

TEST_F(TlsBasicAuthTest, WrongPasswordIsUnauthorized) {
  std::string host = registry_->host();
  auto o = options(Credentials{"alice", "guess", ""});
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      RegistryClient c(curl, host, o);
      co_await c.get_manifest("secure/app", "v1");
      co_return 0;
    });
    FAIL() << "no error with a wrong password";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("unauthorized"));
  }
}

TEST_F(TlsBasicAuthTest, UnknownCaFailsVerification) {
  std::string host = registry_->host();
  auto o = options(Credentials{"alice", "wonderland", ""}, /*with_ca=*/false);
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      RegistryClient c(curl, host, o);
      co_await c.get_manifest("secure/app", "v1");
      co_return 0;
    });
    FAIL() << "a self-signed CA was trusted without the CA file";
  } catch (const RegistryError& e) {
    EXPECT_THAT(e.what(), HasSubstr("curl error 60"));  // CURLE_PEER_FAILED_VERIFICATION
    EXPECT_THAT(e.what(), HasSubstr(host));
  }
}

// A token server and a registry endpoint that wants "Bearer abc".
struct BearerServers {
  std::atomic<int> token_requests{0};
  std::atomic<int> manifest_requests{0};
  std::mutex mu;
  std::string token_target, token_auth;
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  MiniHttpServer tokens{[this](const MiniRequest& r) {
    ++token_requests;
    std::lock_guard lock(mu);
    token_target = r.target;
    auto a = r.headers.find("authorization");
    token_auth = a == r.headers.end() ? "" : a->second;
    if (!r.target.starts_with("/token?")) return MiniHttpServer::response(404, "Not Found", "");
    return MiniHttpServer::response(200, "OK", R"({"token":"abc","expires_in":300})",
                                    {"Content-Type: application/json"});
  }};
  MiniHttpServer registry{[this](const MiniRequest& r) {
    ++manifest_requests;
    auto a = r.headers.find("authorization");
    if (a == r.headers.end() || a->second != "Bearer abc") {
      return MiniHttpServer::response(
          401, "Unauthorized", R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
          {"Content-Type: application/json", "WWW-Authenticate: Bearer realm=\"" + tokens.url() +
                                                 "/token\",service=\"test\",scope=\"repository:x:pull\""});
    }
    if (r.target != "/v2/x/manifests/latest") return MiniHttpServer::response(404, "Not Found", "");
    return MiniHttpServer::response(200, "OK", manifest,
                                    {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                                     "Docker-Content-Digest: " + sha256_digest(manifest)});
  }};
};

TEST(BearerAuth, TokenFlowAndCache) {
  BearerServers s;
  std::string host = "127.0.0.1:" + std::to_string(s.registry.port());
  ClientOptions o;
  o.insecure = true;
  o.credentials = none;
  int client_token_requests = 0;
  auto [first, second] =
      run_with_curl([&](CurlLoop& curl) -> rt::Task<std::pair<ManifestResponse, ManifestResponse>> {
        RegistryClient c(curl, host, o);
        auto a = co_await c.get_manifest("x", "latest");
        auto b = co_await c.get_manifest("x", "latest");
        client_token_requests = c.token_requests();
        co_return std::make_pair(std::move(a), std::move(b));
      });
  EXPECT_EQ(first.body, s.manifest);
  EXPECT_EQ(second.digest, sha256_digest(s.manifest));
  EXPECT_EQ(s.token_requests.load(), 1) << "the second fetch uses the cached token";
  EXPECT_EQ(client_token_requests, 1);
  EXPECT_EQ(s.manifest_requests.load(), 3) << "401, then two authorized fetches";
  std::lock_guard lock(s.mu);
  EXPECT_THAT(s.token_target, HasSubstr("service=test"));
  EXPECT_THAT(s.token_target, HasSubstr("scope=repository%3Ax%3Apull"));
  EXPECT_EQ(s.token_auth, "") << "anonymous without credentials";
}

TEST(BearerAuth, TokenRequestCarriesBasicCredentials) {
  BearerServers s;
  std::string host = "127.0.0.1:" + std::to_string(s.registry.port());
  ClientOptions o;
  o.insecure = true;
  o.credentials = [](const std::string&) {
    return std::optional<Credentials>(Credentials{"user", "secret", ""});
  };
  run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
    RegistryClient c(curl, host, o);
    co_await c.get_manifest("x", "latest");
    co_return 0;
  });
  std::lock_guard lock(s.mu);
  EXPECT_EQ(s.token_auth, "Basic dXNlcjpzZWNyZXQ=");
}

}  // namespace

namespace {

// A blob GET that the registry redirects to another host:port (a CDN): the client follows it,
// keeps the Range, and does not send the registry's Authorization there.
TEST(BlobRedirect, FollowedWithoutCredentialsToTheOtherHost) {
  const std::string blob = random_bytes(50000, 7);
  const std::string digest = sha256_digest(blob);
  std::mutex mu;
  std::string cdn_auth = "unset", cdn_range;
  MiniHttpServer cdn([&](const MiniRequest& r) {
    std::lock_guard lock(mu);
    auto a = r.headers.find("authorization");
    cdn_auth = a == r.headers.end() ? "" : a->second;
    auto rg = r.headers.find("range");
    cdn_range = rg == r.headers.end() ? "" : rg->second;
    if (rg != r.headers.end() && rg->second == "bytes=1000-") {
      return MiniHttpServer::response(206, "Partial Content", blob.substr(1000),
                                      {"Content-Range: bytes 1000-" + std::to_string(blob.size() - 1) + "/" +
                                       std::to_string(blob.size())});
    }
    return MiniHttpServer::response(200, "OK", blob);
  });
  MiniHttpServer registry([&](const MiniRequest& r) {
    auto a = r.headers.find("authorization");
    if (a == r.headers.end() || a->second != "Basic dXNlcjpzZWNyZXQ=") {
      return MiniHttpServer::response(401, "Unauthorized", "", {"WWW-Authenticate: Basic realm=\"r\""});
    }
    return MiniHttpServer::response(307, "Temporary Redirect", "", {"Location: " + cdn.url() + "/data/blob"});
  });
  ClientOptions o;
  o.insecure = true;
  o.credentials = [](const std::string&) {
    return std::optional<Credentials>(Credentials{"user", "secret", ""});
  };
  std::string got;
  BlobResult res = run_with_curl([&](CurlLoop& curl) -> rt::Task<BlobResult> {
    RegistryClient c(curl, "127.0.0.1:" + std::to_string(registry.port()), o);
    co_return co_await c.get_blob("x", digest,
                                  BlobSink{[&](std::span<const std::byte> b) {
                                             got.append(reinterpret_cast<const char*>(b.data()), b.size());
                                           },
                                           {}},
                                  1000);
  });
  EXPECT_TRUE(got == blob.substr(1000));
  EXPECT_EQ(res.bytes, static_cast<std::int64_t>(blob.size() - 1000));
  std::lock_guard lock(mu);
  EXPECT_EQ(cdn_auth, "") << "Authorization leaked to the redirect target";
  EXPECT_EQ(cdn_range, "bytes=1000-");
}

}  // namespace
