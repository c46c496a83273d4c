#include "bocker/registry/reference.hpp"

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::registry {
namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }
bool has_upper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

[[noreturn]] void fail(std::string_view input, std::string_view reason) {
  constexpr std::size_t kMax = 300;
  std::string msg = "invalid reference format: ";
  msg += reason;
  msg += ": \"";
  msg.append(input.substr(0, kMax));
  if (input.size() > kMax) msg += "...";
  msg += '"';
  throw invalid(msg);
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+
bool valid_path_component(std::string_view c) {
  std::size_t i = 0;
  auto alnum_run = [&] {
    std::size_t start = i;
    while (i < c.size() && is_lower_alnum(c[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < c.size()) {
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_component(std::string_view c) {
  if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back())) return false;
  for (char ch : c) {
    if (!is_alnum(ch) && ch != '-') return false;
  }
  return true;
}

// host [":" port], host := domain-name | "[" ipv6 "]"
bool valid_domain(std::string_view d) {
  std::string_view host = d;
  std::string_view port;
  bool has_port = false;
  if (!d.empty() && d.front() == '[') {
    std::size_t close = d.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : d.substr(1, close - 1)) {
      bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':') return false;
    }
    host = {};
    std::string_view rest = d.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    std::size_t colon = d.find(':');
    if (colon != std::string_view::npos) {
      host = d.substr(0, colon);
      port = d.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return false;
    std::size_t start = 0;
    while (true) {
      std::size_t dot = host.find('.', start);
      std::string_view comp = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
      if (!valid_domain_component(comp)) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (has_port) {
    if (port.empty()) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
    }
  }
  return true;
}

bool is_64_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128 || !is_word(tag.front())) return false;
  for (char c : tag) {
    if (!is_word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

std::string registry_api_host(std::string_view domain) {
  if (domain == kDefaultDomain || domain == "index.docker.io") return "registry-1.docker.io";
  return std::string(domain);
}

Reference parse_reference(std::string_view text) {
  if (text.empty()) fail(text, "repository name must have at least one component");
  if (is_64_hex(text)) fail(text, "cannot specify 64-byte hexadecimal strings as a repository name");

  Reference ref;
  std::string_view name = text;
  if (std::size_t at = text.find('@'); at != std::string_view::npos) {
    std::string_view digest = text.substr(at + 1);
    name = text.substr(0, at);
    std::string why;
    if (!is_valid_digest(digest, &why)) fail(text, "invalid digest: " + why);
    ref.digest = std::string(digest);
  }

  std::size_t slash = name.rfind('/');
  std::size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (!is_valid_tag(tag)) {
      fail(text, tag.size() > 128 ? "tag is longer than 128 characters" : "invalid tag");
    }
    ref.tag = std::string(tag);
  }
  if (name.empty()) fail(text, "repository name must have at least one component");

  std::string_view domain = kDefaultDomain;
  std::string_view remainder = name;
  std::size_t first = name.find('/');
  if (first != std::string_view::npos) {
    std::string_view head = name.substr(0, first);
    if (head.find_first_of(".:") != std::string_view::npos || head == "localhost" || has_upper(head)) {
      domain = head;
      remainder = name.substr(first + 1);
    }
  }
  if (domain == "index.docker.io") domain = kDefaultDomain;
  if (!valid_domain(domain)) fail(text, "invalid registry domain \"" + std::string(domain) + "\"");
  if (has_upper(remainder)) fail(text, "repository name must be lowercase");
  if (remainder.empty()) fail(text, "repository name must have at least one component");

  std::size_t start = 0;
  while (true) {
    std::size_t next = remainder.find('/', start);
    std::string_view comp =
        remainder.substr(start, next == std::string_view::npos ? remainder.npos : next - start);
    if (comp.empty()) fail(text, "repository name has an empty path component");
    if (!valid_path_component(comp)) {
      fail(text, "invalid repository name component \"" + std::string(comp) +
                     "\" (only [a-z0-9] separated by '.', '_', '__' or '-')");
    }
    if (next == std::string_view::npos) break;
    start = next + 1;
  }

  ref.domain = std::string(domain);
  ref.path = std::string(remainder);
  if (ref.domain == kDefaultDomain && ref.path.find('/') == std::string::npos) {
    ref.path.insert(0, "library/");
  }
  if (ref.name().size() > kNameTotalLengthMax) {
    fail(text, "repository name must not be more than 255 characters");
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = std::string(kDefaultTag);
  return ref;
}

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::familiar_name() const {
  if (domain == kDefaultDomain) {
    constexpr std::string_view kLibrary = "library/";
    std::string_view p = path;
    if (p.starts_with(kLibrary) && p.find('/', kLibrary.size()) == std::string_view::npos) {
      return std::string(p.substr(kLibrary.size()));
    }
    // A first component that looks like a host must keep the domain, or it would re-parse as one.
    std::string_view head = p.substr(0, p.find('/'));
    if (head.find('.') != std::string_view::npos || head == "localhost") return name();
    return path;
  }
  return name();
}

std::string Reference::familiar() const {
  std::string s = familiar_name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::api_host() const { return registry_api_host(domain); }

}  // namespace bocker::registry
