#include "bocker/registry/auth.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::registry {

namespace {

bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}
bool is_token68_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
         c == '+' || c == '/';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class ChallengeParser {
 public:
  explicit ChallengeParser(std::string_view s) : s_(s) {}

  std::vector<Challenge> parse() {
    std::vector<Challenge> out;
    while (true) {
      skip_ows_and_commas();
      if (at_end()) break;
      std::string scheme = token();
      if (scheme.empty()) fail("expected an authentication scheme");
      Challenge c;
      c.scheme = lower(scheme);
      if (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t')) {
        skip_ows();
        if (!try_token68(c)) params(c);
      }
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  bool at_end() const { return pos_ >= s_.size(); }
  void skip_ows() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void skip_ows_and_commas() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == ',')) ++pos_;
  }
  std::string token() {
    std::size_t start = pos_;
    while (!at_end() && is_tchar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  [[noreturn]] void fail(const std::string& why) const {
    std::string shown(s_.substr(0, 200));
    throw invalid("invalid WWW-Authenticate header at offset " + std::to_string(pos_) + ": " + why +
                  " in \"" + shown + (s_.size() > 200 ? "...\"" : "\""));
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", then end or a comma.
  bool try_token68(Challenge& c) {
    std::size_t start = pos_, p = pos_;
    while (p < s_.size() && is_token68_char(s_[p])) ++p;
    if (p == start) return false;
    std::size_t body_end = p;
    while (p < s_.size() && s_[p] == '=') ++p;
    std::size_t q = p;
    while (q < s_.size() && (s_[q] == ' ' || s_[q] == '\t')) ++q;
    if (q != s_.size() && s_[q] != ',') return false;
    // "realm=" followed by nothing is an empty parameter, not a token68 (it has no '/' '+'
    // and exactly one '='); accept it as token68 only when it is not a plain name=.
    if (p - body_end == 1 && std::all_of(s_.begin() + start, s_.begin() + body_end, is_tchar)) return false;
    c.token68 = std::string(s_.substr(start, p - start));
    pos_ = q;
    return true;
  }

  std::string quoted() {
    ++pos_;  // opening quote
    std::string v;
    while (true) {
      if (at_end()) fail("unterminated quoted string");
      char ch = s_[pos_++];
      if (ch == '"') break;
      if (ch == '\\') {
        if (at_end()) fail("unterminated quoted string");
        ch = s_[pos_++];
      }
      v += ch;
    }
    return v;
  }

  // #auth-param after a scheme; stops before a token that starts the next challenge.
  void params(Challenge& c) {
    bool first = true;
    while (true) {
      std::size_t item_start = pos_;
      if (!first) {
        skip_ows();
        if (at_end()) return;
        if (s_[pos_] != ',') fail("expected ',' between parameters");
        skip_ows_and_commas();
        if (at_end()) return;
        item_start = pos_;
      }
      std::string name = token();
      if (name.empty()) fail("expected a parameter name");
      skip_ows();
      if (at_end() || s_[pos_] != '=') {
        if (first) fail("expected '=' after parameter " + name);
        pos_ = item_start;  // the next challenge's scheme
        return;
      }
      ++pos_;
      skip_ows();
      std::string value;
      if (!at_end() && s_[pos_] == '"') {
        value = quoted();
      } else {
        value = token();
        if (value.empty()) fail("expected a value for parameter " + name);
      }
      c.params[lower(name)] = std::move(value);
      first = false;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

std::string host_of_key(std::string_view key) {
  // "https://host:5000/v1/" -> "host:5000"; "host" -> "host".
  if (auto p = key.find("://"); p != std::string_view::npos) key.remove_prefix(p + 3);
  if (auto p = key.find('/'); p != std::string_view::npos) key = key.substr(0, p);
  return lower(key);
}

bool is_docker_hub(std::string_view host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" ||
         host == "registry.hub.docker.com";
}

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view header) {
  return ChallengeParser(header).parse();
}

std::string base64_decode(std::string_view in, std::string_view what) {
  while (!in.empty() && (in.back() == '=' || in.back() == '\n' || in.back() == '\r' || in.back() == ' ')) {
    in.remove_suffix(1);
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0) throw invalid(std::string(what) + ": invalid base64 character");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) throw invalid(std::string(what) + ": truncated base64");
  return out;
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string basic_authorization(const Credentials& c) {
  return "Basic " + base64_encode(c.username + ":" + c.password);
}

std::string credential_key(std::string_view registry_host) {
  std::string host = host_of_key(registry_host);
  if (is_docker_hub(host)) return "https://index.docker.io/v1/";
  return host;
}

std::string docker_config_path() {
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir != nullptr && *dir != 0) {
    return std::string(dir) + "/config.json";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != 0) {
    return std::string(home) + "/.docker/config.json";
  }
  return {};
}

std::optional<Credentials> credentials_from_config(std::string_view config_json,
                                                   std::string_view registry_host, std::string_view source) {
  nlohmann::json doc = nlohmann::json::parse(config_json.begin(), config_json.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw invalid(std::string(source) + ": not a JSON object");
  auto auths = doc.find("auths");
  if (auths == doc.end()) return std::nullopt;
  if (!auths->is_object()) throw invalid(std::string(source) + ": \"auths\" is not an object");
  std::string want = host_of_key(credential_key(registry_host));
  bool hub = is_docker_hub(host_of_key(registry_host));
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    std::string host = host_of_key(it.key());
    if (!(host == want || (hub && is_docker_hub(host)))) continue;
    const auto& entry = it.value();
    if (!entry.is_object())
      throw invalid(std::string(source) + ": auths entry " + it.key() + " is not an object");
    Credentials c;
    auto str = [&](const char* field) -> std::string {
      auto f = entry.find(field);
      if (f == entry.end() || f->is_null()) return {};
      if (!f->is_string())
        throw invalid(std::string(source) + ": auths." + it.key() + "." + field + " is not a string");
      return f->get<std::string>();
    };
    if (std::string auth = str("auth"); !auth.empty()) {
      std::string plain = base64_decode(auth, std::string(source) + ": auths." + it.key() + ".auth");
      auto colon = plain.find(':');
      if (colon == std::string::npos) {
        throw invalid(std::string(source) + ": auths." + it.key() + ".auth is not base64 of user:password");
      }
      c.username = plain.substr(0, colon);
      c.password = plain.substr(colon + 1);
    } else {
      c.username = str("username");
      c.password = str("password");
    }
    c.identity_token = str("identitytoken");
    if (c.empty()) continue;
    return c;
  }
  return std::nullopt;
}

std::optional<Credentials> load_docker_credentials(std::string_view registry_host,
                                                   const std::string& config_path) {
  if (config_path.empty()) return std::nullopt;
  std::ifstream in(config_path);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    throw SystemError(errno, "open", config_path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return credentials_from_config(ss.str(), registry_host, config_path);
}

RegistryAuth decode_registry_auth(std::string_view header) {
  RegistryAuth out;
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return out;
  std::string json = base64_decode(header, "X-Registry-Auth");
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    throw invalid("X-Registry-Auth: not a base64-encoded JSON object");
  auto str = [&](const char* field) -> std::string {
    auto f = doc.find(field);
    if (f == doc.end() || f->is_null()) return {};
    if (!f->is_string()) throw invalid(std::string("X-Registry-Auth: \"") + field + "\" is not a string");
    return f->get<std::string>();
  };
  out.credentials.username = str("username");
  out.credentials.password = str("password");
  out.credentials.identity_token = str("identitytoken");
  out.server_address = str("serveraddress");
  return out;
}

std::optional<std::string> TokenCache::get(const std::string& host, const std::string& scope,
                                           Clock::time_point now) const {
  auto it = tokens_.find({host, scope});
  if (it == tokens_.end() || now >= it->second.expires) return std::nullopt;
  return it->second.token;
}

void TokenCache::put(const std::string& host, const std::string& scope, std::string token,
                     std::chrono::seconds ttl, Clock::time_point now) {
  // Renew a little early so a token never expires between the check and the request.
  auto margin = std::min<std::chrono::seconds>(ttl / 10, std::chrono::seconds(10));
  tokens_[{host, scope}] = Entry{std::move(token), now + ttl - margin};
}

TokenResponse parse_token_response(std::string_view body, std::string_view realm) {
  nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    throw invalid("token response from " + std::string(realm) + " is not a JSON object");
  }
  TokenResponse out;
  for (const char* field : {"token", "access_token"}) {
    auto f = doc.find(field);
    if (f != doc.end() && f->is_string() && !f->get<std::string>().empty()) {
      out.token = f->get<std::string>();
      break;
    }
  }
  if (out.token.empty()) throw invalid("token response from " + std::string(realm) + " has no token");
  if (auto f = doc.find("expires_in"); f != doc.end() && f->is_number_integer()) {
    auto secs = f->get<std::int64_t>();
    out.expires_in = std::chrono::seconds(std::max<std::int64_t>(secs, 60));
  }
  return out;
}

}  // namespace bocker::registry
