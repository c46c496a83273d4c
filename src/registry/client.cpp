#include "bocker/registry/client.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "bocker/registry/digest.hpp"
#include "bocker/registry/manifest.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/io.hpp"

namespace bocker::registry {

namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

std::string code_text(std::string code) {
  for (char& c : code) c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return code;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Repository paths go into URLs unescaped: allow only the distribution grammar's characters.
void check_repo(const std::string& repo) {
  bool ok = !repo.empty() && repo.size() <= kNameTotalLengthMax && repo.front() != '/' &&
            repo.back() != '/' && repo.find("//") == std::string::npos &&
            repo.find("..") == std::string::npos;
  for (char c : repo) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '.' || c == '_' || c == '-' || c == '/')) {
      ok = false;
    }
  }
  if (!ok) throw invalid("invalid repository name \"" + repo + "\"");
}

void check_ref(const std::string& ref) {
  if (!is_valid_tag(ref) && !is_valid_digest(ref)) throw invalid("invalid tag or digest \"" + ref + "\"");
}

bool is_digest_ref(const std::string& ref) { return ref.find(':') != std::string::npos; }

std::string media_type_of(const HttpResponse& r) {
  const std::string* ct = r.header("content-type");
  if (ct == nullptr) return {};
  std::string v = ct->substr(0, ct->find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
}

bool retryable(const HttpResponse& r) {
  switch (r.code) {
    case CURLE_OK:
      return r.status == 408 || r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_CONNECT:
      return true;
    default:
      return false;
  }
}

// The error for a failed exchange. `what` names the object ("manifest for host/repo:tag").
[[noreturn]] void fail(const HttpRequest& req, const HttpResponse& r, const std::string& what) {
  if (r.code != CURLE_OK) {
    auto kind = r.code == CURLE_OPERATION_TIMEDOUT ? Error::Kind::kTimeout : Error::Kind::kInternal;
    throw RegistryError(kind,
                        req.method + " " + req.url + " (" + what + "): " + r.curl_error + " (curl error " +
                            std::to_string(static_cast<int>(r.code)) + ")",
                        0, {});
  }
  std::string code;
  std::string desc = describe_registry_errors(r.body, &code);
  if (r.status == 404) {
    throw RegistryError(Error::Kind::kNotFound, what + " not found: " + (desc.empty() ? "HTTP 404" : desc),
                        404, code);
  }
  if (r.status == 401 || r.status == 403) {
    if (desc.empty())
      desc = r.status == 401 ? "unauthorized: authentication required" : "denied: access forbidden";
    throw RegistryError(
        Error::Kind::kInvalid,
        req.method + " " + req.url + " (" + what + "): " + desc + " (HTTP " + std::to_string(r.status) + ")",
        r.status, code);
  }
  throw RegistryError(Error::Kind::kInternal,
                      req.method + " " + req.url + " (" + what + "): HTTP " + std::to_string(r.status) +
                          (desc.empty() ? std::string() : ": " + desc),
                      r.status, code);
}

}  // namespace

std::string describe_registry_errors(std::string_view body, std::string* code) {
  nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return {};
  auto errs = doc.find("errors");
  if (errs == doc.end() || !errs->is_array()) return {};
  std::string out;
  for (const auto& e : *errs) {
    if (!e.is_object()) continue;
    std::string c = e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
    std::string m = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
    if (c.empty() && m.empty()) continue;
    if (code != nullptr && code->empty()) *code = c;
    std::string one = c.empty() ? m : (m.empty() ? code_text(c) : code_text(c) + ": " + m);
    out += out.empty() ? one : "; " + one;
  }
  return out;
}

RegistryClient::RegistryClient(CurlLoop& loop, std::string host, ClientOptions opts)
    : loop_(&loop), host_(std::move(host)), opts_(std::move(opts)) {
  if (host_.empty() || host_.find_first_of("/?#@ ") != std::string::npos) {
    throw invalid("invalid registry host \"" + host_ + "\"");
  }
}

std::string RegistryClient::base_url() const { return (opts_.insecure ? "http://" : "https://") + host_; }

std::optional<Credentials> RegistryClient::credentials() {
  if (!creds_) {
    if (opts_.credentials) {
      creds_.emplace(opts_.credentials(host_));
    } else {
      creds_.emplace(load_docker_credentials(host_));
    }
  }
  return *creds_;
}

rt::Task<std::string> RegistryClient::fetch_token(const Challenge& ch, const std::string& scope) {
  std::string realm = ch.param("realm");
  if (!realm.starts_with("https://") && !realm.starts_with("http://")) {
    throw invalid("registry " + host_ + " asked for a token from an invalid realm \"" + realm + "\"");
  }
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (std::string service = ch.param("service"); !service.empty())
    url += "service=" + percent_encode(service) + "&";
  url += "scope=" + percent_encode(scope);
  if (std::string extra = ch.param("scope"); !extra.empty() && extra != scope)
    url += "&scope=" + percent_encode(extra);
  HttpRequest req;
  req.url = url;
  req.ca_file = opts_.ca_file;
  req.connect_timeout_s = opts_.connect_timeout_s;
  req.low_speed_time_s = opts_.low_speed_time_s;
  req.max_body = 1024 * 1024;
  std::optional<Credentials> creds = credentials();
  if (creds && !creds->username.empty())
    req.headers.push_back("Authorization: " + basic_authorization(*creds));
  ++token_requests_;
  HttpResponse r = co_await http_fetch(*loop_, req);
  if (!r.ok()) fail(req, r, "token for " + scope + " on " + host_);
  TokenResponse t = parse_token_response(r.body, realm);
  tokens_.put(host_, scope, t.token, t.expires_in);
  co_return t.token;
}

rt::Task<HttpResponse> RegistryClient::send(HttpRequest req, const std::string& repo) {
  const std::string scope = "repository:" + repo + ":pull";
  req.verify_tls = true;
  req.ca_file = opts_.ca_file;
  req.connect_timeout_s = opts_.connect_timeout_s;
  req.low_speed_time_s = opts_.low_speed_time_s;
  const std::size_t plain_headers = req.headers.size();
  for (int round = 0;; ++round) {
    req.headers.resize(plain_headers);
    if (basic_) {
      if (auto c = credentials(); c && !c->username.empty()) {
        req.headers.push_back("Authorization: " + basic_authorization(*c));
      }
    } else if (auto token = tokens_.get(host_, scope)) {
      req.headers.push_back("Authorization: Bearer " + *token);
    }
    HttpResponse r = co_await http_fetch(*loop_, req);
    if (r.code != CURLE_OK || r.status != 401 || round == 1) co_return r;
    std::vector<Challenge> challenges;
    for (const std::string& h : r.header_values("www-authenticate")) {
      auto more = parse_www_authenticate(h);
      challenges.insert(challenges.end(), more.begin(), more.end());
    }
    auto bearer = std::find_if(challenges.begin(), challenges.end(),
                               [](const Challenge& c) { return c.scheme == "bearer"; });
    auto basic = std::find_if(challenges.begin(), challenges.end(),
                              [](const Challenge& c) { return c.scheme == "basic"; });
    if (bearer != challenges.end()) {
      basic_ = false;
      co_await fetch_token(*bearer, scope);
    } else if (basic != challenges.end()) {
      auto c = credentials();
      if (!c || c->username.empty() || basic_) co_return r;  // nothing (new) to offer
      basic_ = true;
    } else {
      co_return r;
    }
  }
}

rt::Task<ManifestResponse> RegistryClient::get_manifest(std::string repo, std::string ref,
                                                        std::string accept) {
  check_repo(repo);
  check_ref(ref);
  std::string what = "manifest for " + host_ + "/" + repo + (is_digest_ref(ref) ? "@" : ":") + ref;
  HttpRequest req;
  req.url = base_url() + "/v2/" + repo + "/manifests/" + ref;
  req.headers.push_back("Accept: " + (accept.empty() ? std::string(media::kAcceptManifests) : accept));
  req.max_body = kMaxManifestBytes;
  HttpResponse r = co_await send(req, repo);
  if (!r.ok()) fail(req, r, what);
  ManifestResponse out;
  out.body = std::move(r.body);
  out.content_type = media_type_of(r);
  std::string computed = sha256_digest(out.body);
  const std::string* header = r.header("docker-content-digest");
  if (is_digest_ref(ref) && ref.starts_with("sha256:") && ref != computed) {
    throw invalid(what + ": content has digest " + computed + ", not " + ref);
  }
  if (header != nullptr && header->starts_with("sha256:") && *header != computed) {
    throw invalid(what + ": Docker-Content-Digest " + *header + " does not match the content's " + computed);
  }
  out.digest = header != nullptr && !header->empty() ? *header : computed;
  co_return out;
}

rt::Task<ManifestInfo> RegistryClient::head_manifest(std::string repo, std::string ref, std::string accept) {
  check_repo(repo);
  check_ref(ref);
  std::string what = "manifest for " + host_ + "/" + repo + (is_digest_ref(ref) ? "@" : ":") + ref;
  HttpRequest req;
  req.method = "HEAD";
  req.url = base_url() + "/v2/" + repo + "/manifests/" + ref;
  req.headers.push_back("Accept: " + (accept.empty() ? std::string(media::kAcceptManifests) : accept));
  HttpResponse r = co_await send(req, repo);
  if (!r.ok()) fail(req, r, what);
  ManifestInfo out;
  out.content_type = media_type_of(r);
  if (const std::string* d = r.header("docker-content-digest")) out.digest = *d;
  if (out.digest.empty() && is_digest_ref(ref)) out.digest = ref;
  if (const std::string* len = r.header("content-length")) out.size = std::atoll(len->c_str());
  co_return out;
}

rt::Task<BlobResult> RegistryClient::get_blob(std::string repo, std::string digest, BlobSink sink,
                                              std::int64_t offset) {
  check_repo(repo);
  Digest want = Digest::parse(digest);
  if (!sink.write) throw invalid("get_blob " + digest + ": no sink");
  if (offset < 0) throw invalid("get_blob " + digest + ": negative offset");
  const std::string what = "blob " + digest + " in " + host_ + "/" + repo;
  const bool can_verify = opts_.verify_blobs && want.algorithm == "sha256";

  // Download state shared with the body callbacks of every attempt.
  struct State {
    BlobSink* sink;
    std::int64_t delivered;  // absolute offset of the next byte the sink expects
    std::int64_t pos = 0;    // absolute offset of the next byte arriving
    bool hashing;            // the hasher has seen every byte from offset 0
    Sha256 hasher;
    BlobResult result;
  } st{&sink, offset, 0, can_verify && offset == 0, Sha256(), BlobResult{}};

  HttpRequest req;
  req.url = base_url() + "/v2/" + repo + "/blobs/" + digest;
  req.follow_redirects = true;
  req.max_body = 64 * 1024;
  req.flow = sink.flow;
  req.on_body_start = [&st, &what, can_verify](const HttpResponse& r) {
    if (r.status == 206) {
      const std::string* cr = r.header("content-range");
      std::string want_prefix = "bytes " + std::to_string(st.delivered) + "-";
      if (cr == nullptr || !cr->starts_with(want_prefix)) {
        throw RegistryError(Error::Kind::kInternal,
                            what + ": registry answered Range " + std::to_string(st.delivered) +
                                "- with Content-Range \"" + (cr ? *cr : std::string()) + "\"",
                            206, {});
      }
      st.pos = st.delivered;
      // The hasher can only vouch for the blob if it saw every byte before this one.
      if (st.hashing && static_cast<std::int64_t>(st.hasher.bytes()) != st.delivered) st.hashing = false;
      return;
    }
    // A full body (or the registry ignored the Range): start over, or skip what the sink has.
    st.pos = 0;
    if (st.delivered > 0 && st.sink->reset) {
      st.sink->reset();
      st.delivered = 0;
      st.result.restarted = true;
    }
    st.hasher = Sha256();
    st.hashing = can_verify;
  };
  req.sink = [&st](std::span<const std::byte> data) {
    auto n = static_cast<std::int64_t>(data.size());
    if (st.hashing) st.hasher.update(data);  // contiguous from byte st.pos
    if (st.pos + n > st.delivered) {
      auto fresh = data.subspan(static_cast<std::size_t>(std::max<std::int64_t>(0, st.delivered - st.pos)));
      st.sink->write(fresh);
      st.result.bytes += static_cast<std::int64_t>(fresh.size());
      st.delivered = st.pos + n;
    }
    st.pos += n;
  };

  auto backoff = opts_.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    req.range_from = st.delivered > 0 ? st.delivered : -1;
    HttpResponse r = co_await send(req, repo);
    bool done = r.code == CURLE_OK && (r.status == 200 || r.status == 206);
    if (!done && r.code == CURLE_OK && r.status == 416 && st.delivered > 0) done = true;  // nothing left
    if (done) {
      if (st.hashing && can_verify) {
        std::string got = st.hasher.finish();
        if (got != want.str()) {
          throw RegistryError(Error::Kind::kInvalid,
                              what + ": downloaded content has digest " + got + " (" +
                                  std::to_string(st.delivered) + " bytes)",
                              r.status, "DIGEST_INVALID");
        }
      }
      co_return st.result;
    }
    if (!retryable(r) || attempt >= opts_.max_retries) fail(req, r, what);
    ++st.result.retries;
    if (!co_await rt::sleep_for(backoff))
      throw Error(Error::Kind::kCancelled, "download of " + what + " cancelled");
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

}  // namespace bocker::registry
