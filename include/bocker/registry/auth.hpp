// Registry authentication: WWW-Authenticate challenges, credentials from the docker CLI's
// config.json or from an X-Registry-Auth header, and the Bearer token cache.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::registry {

// One challenge of a WWW-Authenticate header (RFC 7235).
struct Challenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lowercased, values unquoted/unescaped
  std::string token68;                        // for schemes that carry one instead of params

  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

// Parses every challenge in one header value (several may be comma-separated), e.g.
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:x:pull"
//   Basic realm="Registry Realm"
// Throws bocker::Error (kInvalid) naming the offset and reason on malformed input.
std::vector<Challenge> parse_www_authenticate(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // OAuth refresh token from `docker login` with some registries
  bool empty() const noexcept { return username.empty() && password.empty() && identity_token.empty(); }
};

// Key used for a registry in config.json's "auths": docker.io and its aliases use
// "https://index.docker.io/v1/", anything else the host[:port].
std::string credential_key(std::string_view registry_host);

// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (empty when neither is set).
std::string docker_config_path();

// Looks `registry_host` up in the "auths" of a docker config.json document (entries keyed by a
// URL such as "https://host:5000/v1/" match too). "auth" is base64 "user:password". Throws
// bocker::Error (kInvalid) naming `source` when the document or the entry is malformed.
std::optional<Credentials> credentials_from_config(std::string_view config_json,
                                                   std::string_view registry_host,
                                                   std::string_view source = "config.json");

// Reads docker_config_path() (blocking: call it at startup or through rt::offload). A missing
// file gives nullopt.
std::optional<Credentials> load_docker_credentials(std::string_view registry_host,
                                                   const std::string& config_path = docker_config_path());

// Decodes the Docker API's X-Registry-Auth header: base64url (or standard base64, padded or not)
// of {"username","password","serveraddress","identitytoken"}. An empty header or "{}" gives
// empty credentials. Throws bocker::Error (kInvalid) on malformed input.
struct RegistryAuth {
  Credentials credentials;
  std::string server_address;
};
RegistryAuth decode_registry_auth(std::string_view header);

// Base64 (standard or URL-safe alphabet, padding optional). Throws kInvalid naming `what`.
std::string base64_decode(std::string_view in, std::string_view what);
std::string base64_encode(std::string_view in);

// "Basic <base64(user:password)>".
std::string basic_authorization(const Credentials& c);

// Bearer tokens per (registry host, scope) until they expire.
class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;
  std::optional<std::string> get(const std::string& host, const std::string& scope,
                                 Clock::time_point now = Clock::now()) const;
  void put(const std::string& host, const std::string& scope, std::string token, std::chrono::seconds ttl,
           Clock::time_point now = Clock::now());
  void clear() { tokens_.clear(); }
  std::size_t size() const noexcept { return tokens_.size(); }

 private:
  struct Entry {
    std::string token;
    Clock::time_point expires;
  };
  std::map<std::pair<std::string, std::string>, Entry> tokens_;
};

struct TokenResponse {
  std::string token;
  std::chrono::seconds expires_in{60};
};
// Parses a token server's answer: "token" or "access_token", "expires_in" (default 60 s,
// at least 60 s like docker). Throws kInvalid naming `realm`.
TokenResponse parse_token_response(std::string_view body, std::string_view realm);

}  // namespace bocker::registry
