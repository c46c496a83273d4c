// Pulls that need credentials: docker-registry with htpasswd over TLS (a test CA trusted through
// BOCKER_REGISTRY_CA_FILE), credentials from X-Registry-Auth (as the docker CLI sends them) or
// from the daemon's $DOCKER_CONFIG/config.json; and the Bearer token flow through a token server
// in front of a real registry.
#include <curl/curl.h>

#include <mutex>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using ::testing::HasSubstr;
using registry::testing::MiniHttpServer;
using registry::testing::MiniRequest;
using registry::testing::Pusher;
using registry::testing::RegistryConfig;
using registry::testing::RegistryServer;

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

class AuthPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    BOCKER_REQUIRE_REGISTRY();
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    docker_config_ = root_->dir() + "/docker-config";
    fs::create_directories(docker_config_);
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "bockerd log:\n" << daemon_->log();
    daemon_.reset();
    registry_.reset();
    root_.reset();
  }
  void start_daemon(std::map<std::string, std::string> env) {
    env["DOCKER_CONFIG"] = docker_config_;
    daemon_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/bocker.sock", root_->dir() + "/bockerd.log",
                                              std::vector<std::string>{"--storage-driver", "overlay2"}, env);
    ASSERT_EQ(daemon_->start(), "");
  }
  CmdResult api_pull(const std::string& image, const std::string& tag, const std::string& auth_json) {
    std::string extra = auth_json.empty() ? "" : "-H 'X-Registry-Auth: " + base64(auth_json) + "'";
    return run(daemon_->curl("POST", "/images/create?fromImage=" + image + "&tag=" + tag, extra));
  }

  registry::testing::TempDir regdir_;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::string docker_config_;
};

TEST_F(AuthPullTest, BasicAuthOverTlsWithTheCaFromTheEnvironment) {
  if (!have("openssl")) GTEST_SKIP() << "openssl is not installed";
  if (run("/usr/bin/python3 -W ignore -c 'import crypt'").status != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with the crypt module is needed for a bcrypt htpasswd";
  }
  const std::string d = regdir_.path();
  registry::testing::write_text(regdir_.file("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  auto ca = run("cd " + d +
                " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt"
                " -days 2 -subj /CN=bocker-test-ca"
                " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr"
                " -subj /CN=127.0.0.1"
                " && openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2"
                " -extfile san.ext");
  ASSERT_EQ(ca.status, 0) << ca.out;
  std::string htpasswd = regdir_.file("htpasswd");
  ASSERT_EQ(run("/usr/bin/python3 -W ignore -c \"import crypt; print('alice:' + crypt.crypt('wonderland', "
                "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))\" > " + htpasswd)
                .status,
            0);
  registry_ = std::make_unique<RegistryServer>(regdir_, RegistryConfig{regdir_.file("srv.crt"), regdir_.file("srv.key"), htpasswd});
  Pusher pusher(registry_->url(), "alice:wonderland", regdir_.file("ca.crt"));
  ImageSpec spec;
  spec.layers = {layer_tar(small_tree("secure"))};
  PushedImage img = push_image(pusher, "secure/app", "v1", spec);
  pusher.push_manifest("secure/app", "v2", img.manifest, img.media_type);
  start_daemon({{"BOCKER_REGISTRY_CA_FILE", regdir_.file("ca.crt")}});
  const std::string host = registry_->host();
  auto before = store_listing(root_->root());

  // No credentials: 401 from the registry, said clearly; nothing stored.
  auto r = run(daemon_->bocker("pull " + host + "/secure/app:v1"));
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("unauthorized")) << r.out;
  EXPECT_EQ(store_listing(root_->root()), before);
  // Wrong password.
  r = api_pull(host + "/secure/app", "v1", R"({"username":"alice","password":"guess","serveraddress":")" + host + "\"}");
  EXPECT_THAT(r.out, HasSubstr("unauthorized")) << r.out;
  EXPECT_EQ(store_listing(root_->root()), before);

  // X-Registry-Auth as the docker CLI sends it.
  r = api_pull(host + "/secure/app", "v1", R"({"username":"alice","password":"wonderland","serveraddress":")" + host + "\"}");
  EXPECT_THAT(r.out, HasSubstr("HTTP 200")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + host + "/secure/app:v1")) << r.out;
  EXPECT_EQ(inspect_json(*daemon_, host + "/secure/app:v1")["Id"], img.image_id);

  // The daemon's own config.json (how `bocker pull` authenticates), read when a registry is
  // first used: restart the daemon with it in place.
  daemon_->stop();
  registry::testing::write_text(docker_config_ + "/config.json",
                                R"({"auths":{")" + host + R"(":{"auth":")" + base64("alice:wonderland") + "\"}}}");
  ASSERT_EQ(daemon_->start(), "");
  r = run(daemon_->bocker("pull " + host + "/secure/app:v2"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Image is up to date for " + host + "/secure/app:v2")) << r.out;
  EXPECT_EQ(inspect_json(*daemon_, host + "/secure/app:v2")["Id"], img.image_id);
  if (have("docker")) {
    auto d2 = run(daemon_->docker("pull " + host + "/secure/app:v2"));
    EXPECT_EQ(d2.status, 0) << d2.out;
    EXPECT_THAT(d2.out, HasSubstr("Image is up to date")) << d2.out;
  }
}

TEST_F(AuthPullTest, UntrustedCaIsRefused) {
  if (!have("openssl")) GTEST_SKIP() << "openssl is not installed";
  const std::string d = regdir_.path();
  registry::testing::write_text(regdir_.file("san.ext"), "subjectAltName=IP:127.0.0.1\n");
  auto ca = run("cd " + d +
                " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.crt"
                " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1");
  ASSERT_EQ(ca.status, 0) << ca.out;
  registry_ = std::make_unique<RegistryServer>(regdir_, RegistryConfig{regdir_.file("srv.crt"), regdir_.file("srv.key"), ""});
  start_daemon({});
  auto r = run(daemon_->bocker("pull " + registry_->host() + "/any/thing:v1"));
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("certificate")) << r.out;
}

// A Bearer-token front for a real registry: /v2/ requests without "Bearer <token>" get a 401
// challenge naming the token server; with it they are relayed to docker-registry.
class TokenGateway {
 public:
  explicit TokenGateway(std::string upstream) : upstream_(std::move(upstream)) {}
  std::string token_url() const { return tokens.url() + "/token"; }
  int token_requests() {
    std::lock_guard lock(mu_);
    return token_requests_;
  }
  std::string last_scope() {
    std::lock_guard lock(mu_);
    return last_scope_;
  }

  MiniHttpServer tokens{[this](const MiniRequest& r) {
    std::lock_guard lock(mu_);
    ++token_requests_;
    auto q = r.target.find("scope=");
    last_scope_ = q == std::string::npos ? "" : r.target.substr(q + 6);
    auto a = r.headers.find("authorization");
    if (a == r.headers.end() || a->second != "Basic " + base64("bob:builder")) {
      return MiniHttpServer::response(401, "Unauthorized", R"({"details":"bad credentials"})");
    }
    return MiniHttpServer::response(200, "OK", R"({"token":"tok-123","expires_in":300})",
                                    {"Content-Type: application/json"});
  }};
  MiniHttpServer front{[this](const MiniRequest& r) {
    auto a = r.headers.find("authorization");
    if (a == r.headers.end() || a->second != "Bearer tok-123") {
      return MiniHttpServer::response(
          401, "Unauthorized", R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
          {"WWW-Authenticate: Bearer realm=\"" + tokens.url() + "/token\",service=\"gateway\",scope=\"repository:tok/app:pull\"",
           "Content-Type: application/json"});
    }
    return relay(r);
  }};

 private:
  static size_t on_body(char* d, size_t s, size_t n, void* u) {
    static_cast<std::string*>(u)->append(d, s * n);
    return s * n;
  }
  static size_t on_header(char* d, size_t s, size_t n, void* u) {
    std::string line(d, s * n);
    for (const char* keep : {"content-type:", "docker-content-digest:", "content-range:"}) {
      if (strncasecmp(line.c_str(), keep, std::strlen(keep)) == 0) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        static_cast<std::vector<std::string>*>(u)->push_back(line);
      }
    }
    return s * n;
  }
  std::string relay(const MiniRequest& r) {
    std::string body;
    std::vector<std::string> headers;
    CURL* e = curl_easy_init();
    curl_slist* h = nullptr;
    for (const char* pass : {"accept", "range"}) {
      if (auto it = r.headers.find(pass); it != r.headers.end()) h = curl_slist_append(h, (std::string(pass) + ": " + it->second).c_str());
    }
    std::string url = upstream_ + r.target;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    if (r.method == "HEAD") curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &headers);
    CURLcode rc = curl_easy_perform(e);
    long status = 502;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t length = -1;
    curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK) return MiniHttpServer::response(502, "Bad Gateway", curl_easy_strerror(rc));
    if (r.method == "HEAD") {
      std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
      for (const auto& hd : headers) out += hd + "\r\n";
      return out + "Content-Length: " + std::to_string(length < 0 ? 0 : length) + "\r\nConnection: close\r\n\r\n";
    }
    return MiniHttpServer::response(static_cast<int>(status), "X", body, headers);
  }

  std::string upstream_;
  std::mutex mu_;
  int token_requests_ = 0;
  std::string last_scope_;
};

TEST_F(AuthPullTest, BearerTokenFlow) {
  registry_ = std::make_unique<RegistryServer>(regdir_);
  Pusher pusher(registry_->url());
  ImageSpec spec;
  spec.layers = {layer_tar(small_tree("token-1")), layer_tar({storage::test::file("two", "2")})};
  PushedImage img = push_image(pusher, "tok/app", "v1", spec);
  TokenGateway gw(registry_->url());
  std::string host = "127.0.0.1:" + std::to_string(gw.front.port());
  start_daemon({});
  auto before = store_listing(root_->root());

  auto r = run(daemon_->bocker("pull " + host + "/tok/app:v1"));
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("401")) << r.out;
  EXPECT_EQ(store_listing(root_->root()), before);

  r = api_pull(host + "/tok/app", "v1", R"({"username":"bob","password":"builder"})");
  EXPECT_THAT(r.out, HasSubstr("HTTP 200")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + host + "/tok/app:v1")) << r.out;
  EXPECT_GE(gw.token_requests(), 1);
  EXPECT_LE(gw.token_requests(), 3) << "the token is reused for the blobs";
  EXPECT_THAT(gw.last_scope(), ::testing::AnyOf(HasSubstr("tok%2Fapp"), HasSubstr("tok/app"))) << gw.last_scope();
  EXPECT_EQ(inspect_json(*daemon_, host + "/tok/app:v1")["Id"], img.image_id);
}

}  // namespace
}  // namespace bocker::daemon::testing
