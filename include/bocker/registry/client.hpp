// A client for one registry (OCI distribution API v2) on CurlLoop: manifests, streaming blob
// downloads with Range resume, Bearer/Basic authentication.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/registry/auth.hpp"
#include "bocker/registry/curl_loop.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::registry {

// A registry's answer as an error. kind(): 404 -> kNotFound, 401/403 -> kInvalid (the API maps
// them to an auth failure), timeouts -> kTimeout, everything else kInternal.
class RegistryError : public Error {
 public:
  RegistryError(Kind kind, const std::string& msg, long status, std::string code)
      : Error(kind, msg), status_(status), code_(std::move(code)) {}
  long status() const noexcept { return status_; }            // HTTP status, 0 for transport errors
  const std::string& code() const noexcept { return code_; }  // "MANIFEST_UNKNOWN", "UNAUTHORIZED", ...

 private:
  long status_;
  std::string code_;
};

// Decodes a registry error body {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}
// into docker's wording ("manifest unknown: manifest unknown"); `code` receives the first code.
// Returns an empty string when the body is not such a document.
std::string describe_registry_errors(std::string_view body, std::string* code = nullptr);

struct ClientOptions {
  bool insecure = false;  // plain http (for 127.0.0.1:5000-style registries)
  std::string ca_file;    // PEM bundle to verify the registry (and token server) with
  // Credentials for a registry host; called when a challenge asks for them. The default reads
  // the docker CLI's config.json (see load_docker_credentials); it is called on the loop thread.
  std::function<std::optional<Credentials>(const std::string& host)> credentials;
  int max_retries = 5;                           // blob downloads, per get_blob
  std::chrono::milliseconds retry_backoff{200};  // doubled per retry, capped at 5 s
  long low_speed_time_s = 30;                    // stall detection (< 1 byte/s)
  long connect_timeout_s = 30;
  bool verify_blobs = true;  // check the sha256 of blobs downloaded from offset 0
};

struct ManifestResponse {
  std::string body;
  std::string content_type;
  std::string digest;  // Docker-Content-Digest, or the sha256 of the body when absent
};

struct ManifestInfo {
  std::string content_type;
  std::string digest;
  std::int64_t size = -1;
};

// Where get_blob delivers bytes. `write` sees the blob in order from the requested offset;
// `reset` (optional) is called when the registry ignored a Range request and the download
// starts over from byte 0. Without `reset`, the already-delivered prefix is skipped instead.
struct BlobSink {
  std::function<void(std::span<const std::byte>)> write;
  std::function<void()> reset;
  FlowControl* flow = nullptr;  // optional back-pressure (pause()/resume() on the loop thread)
};

struct BlobResult {
  std::int64_t bytes = 0;  // delivered by this call (from `offset`)
  int retries = 0;         // dropped connections recovered from
  bool restarted = false;  // the sink was reset
};

class RegistryClient {
 public:
  // `host`: "127.0.0.1:5000", "registry-1.docker.io" (see Reference::api_host()).
  RegistryClient(CurlLoop& loop, std::string host, ClientOptions opts = {});

  const std::string& host() const noexcept { return host_; }
  // "https://host" or "http://host".
  std::string base_url() const;

  // GET /v2/<repo>/manifests/<ref>. `accept` defaults to media::kAcceptManifests. A digest
  // reference is verified against the body.
  rt::Task<ManifestResponse> get_manifest(std::string repo, std::string ref, std::string accept = {});
  rt::Task<ManifestInfo> head_manifest(std::string repo, std::string ref, std::string accept = {});
  // Streams blob `digest` to `sink` from `offset`, resuming dropped connections with Range.
  rt::Task<BlobResult> get_blob(std::string repo, std::string digest, BlobSink sink, std::int64_t offset = 0);

  // Token requests made so far (for tests and metrics).
  int token_requests() const noexcept { return token_requests_; }
  TokenCache& tokens() noexcept { return tokens_; }

 private:
  struct Call;
  rt::Task<HttpResponse> send(HttpRequest req, const std::string& repo);
  rt::Task<std::string> fetch_token(const Challenge& ch, const std::string& scope);
  std::optional<Credentials> credentials();

  CurlLoop* loop_;
  std::string host_;
  ClientOptions opts_;
  TokenCache tokens_;
  bool basic_ = false;  // the registry asked for Basic auth
  int token_requests_ = 0;
  std::optional<std::optional<Credentials>> creds_;  // looked up once
};

}  // namespace bocker::registry
