#include "bocker/registry/manifest.hpp"

#include <algorithm>
#include <array>

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"
#include "json_util.hpp"

namespace bocker::registry {
namespace {

using detail::expect_int64;
using detail::expect_string;
using detail::member;
using nlohmann::json;

Error unsupported(const std::string& msg) { return Error(Error::Kind::kUnsupported, msg); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "application/json; charset=utf-8" -> "application/json"
std::string bare_media_type(std::string_view content_type) {
  std::string_view s = content_type.substr(0, content_type.find(';'));
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return lower(s);
}

// type "/" subtype, printable ASCII without spaces, so it can be echoed into messages and headers.
bool valid_media_type(std::string_view mt) {
  if (mt.size() > 255) return false;
  std::size_t slash = mt.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == mt.size()) return false;
  return std::all_of(mt.begin(), mt.end(), [](char c) { return c > ' ' && c < 0x7f && c != '"'; });
}

bool is_manifest_type(std::string_view mt) {
  return mt == media::kDockerManifest || mt == media::kOciManifest;
}
bool is_index_type(std::string_view mt) { return mt == media::kDockerManifestList || mt == media::kOciIndex; }
bool is_schema1(std::string_view mt) {
  return mt == media::kDockerSchema1 || mt == media::kDockerSchema1Signed ||
         mt == "application/json+prettyjws";
}
bool is_generic_type(std::string_view mt) {
  return mt.empty() || mt == "application/json" || mt == "application/octet-stream" || mt == "text/plain";
}

std::string shorten(std::string_view s) {
  constexpr std::size_t kMax = 120;
  return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}

Platform parse_platform_object(const json& v, const std::string& field) {
  if (!v.is_object()) throw invalid(field + " must be an object, not " + detail::type_name(v));
  Platform p;
  const json* os = member(v, "os");
  const json* arch = member(v, "architecture");
  if (!os) throw invalid(field + ".os is missing");
  if (!arch) throw invalid(field + ".architecture is missing");
  p.os = expect_string(*os, field + ".os");
  p.architecture = expect_string(*arch, field + ".architecture");
  if (const json* var = member(v, "variant"); var && !var->is_null()) {
    p.variant = expect_string(*var, field + ".variant");
  }
  return p;
}

Descriptor parse_descriptor(const json& v, const std::string& field) {
  if (!v.is_object()) throw invalid(field + " must be an object, not " + detail::type_name(v));
  Descriptor d;
  const json* mt = member(v, "mediaType");
  if (!mt) throw invalid(field + ".mediaType is missing");
  d.media_type = expect_string(*mt, field + ".mediaType");
  if (!valid_media_type(d.media_type)) {
    throw invalid(field + ".mediaType is not a valid media type: \"" + shorten(d.media_type) + "\"");
  }
  const json* dg = member(v, "digest");
  if (!dg) throw invalid(field + ".digest is missing");
  d.digest = expect_string(*dg, field + ".digest");
  if (std::string why; !is_valid_digest(d.digest, &why)) {
    throw invalid(field + ".digest: invalid digest \"" + shorten(d.digest) + "\": " + why);
  }
  const json* size = member(v, "size");
  if (!size) throw invalid(field + ".size is missing");
  d.size = expect_int64(*size, field + ".size");
  if (d.size < 0) throw invalid(field + ".size must not be negative: " + std::to_string(d.size));
  if (const json* urls = member(v, "urls"); urls && !urls->is_null()) {
    if (!urls->is_array()) throw invalid(field + ".urls must be an array, not " + detail::type_name(*urls));
    for (std::size_t i = 0; i < urls->size(); ++i) {
      d.urls.push_back(expect_string((*urls)[i], field + ".urls[" + std::to_string(i) + "]"));
    }
  }
  if (const json* plat = member(v, "platform"); plat && !plat->is_null()) {
    d.platform = parse_platform_object(*plat, field + ".platform");
  }
  return d;
}

const json& require_array(const json& doc, const char* key, const std::string& what) {
  const json* v = member(doc, key);
  if (!v) throw invalid(what + ": \"" + key + "\" is missing");
  if (!v->is_array())
    throw invalid(what + ": \"" + key + "\" must be an array, not " + detail::type_name(*v));
  return *v;
}

Manifest parse_image_manifest(const json& doc, std::string media_type) {
  Manifest m;
  m.media_type = std::move(media_type);
  const json* config = member(doc, "config");
  if (!config) throw invalid("manifest: \"config\" is missing");
  m.config = parse_descriptor(*config, "manifest config");
  if (m.config.media_type != media::kDockerConfig && m.config.media_type != media::kOciConfig) {
    throw unsupported("manifest: config media type \"" + m.config.media_type +
                      "\" is not a container image config (not an image, or an artifact)");
  }
  const json& layers = require_array(doc, "layers", "manifest");
  m.layers.reserve(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    std::string field = "manifest layers[" + std::to_string(i) + "]";
    Descriptor d = parse_descriptor(layers[i], field);
    if (!is_supported_layer_type(d.media_type)) {
      throw unsupported(field + ": unsupported layer media type \"" + d.media_type + "\"");
    }
    m.layers.push_back(std::move(d));
  }
  return m;
}

Index parse_index(const json& doc, std::string media_type) {
  Index idx;
  idx.media_type = std::move(media_type);
  const json& entries = require_array(doc, "manifests", "manifest list");
  idx.manifests.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    idx.manifests.push_back(
        parse_descriptor(entries[i], "manifest list manifests[" + std::to_string(i) + "]"));
  }
  return idx;
}

std::string normalize_arch(std::string arch, std::string& variant) {
  if (arch == "x86_64" || arch == "x86-64") return "amd64";
  if (arch == "aarch64") return "arm64";
  if (arch == "armhf") {
    if (variant.empty()) variant = "v7";
    return "arm";
  }
  if (arch == "armel") {
    if (variant.empty()) variant = "v6";
    return "arm";
  }
  if (arch == "i386" || arch == "i686" || arch == "x86") return "386";
  return arch;
}

std::string default_variant(std::string_view arch) {
  if (arch == "arm64") return "v8";
  if (arch == "amd64") return "v1";
  if (arch == "arm") return "v7";
  return {};
}

bool valid_platform_part(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

bool is_known_arch(std::string_view a) {
  static constexpr std::array<std::string_view, 10> kArchs = {
      "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64", "mips64le", "loong64"};
  return std::find(kArchs.begin(), kArchs.end(), a) != kArchs.end();
}

}  // namespace

bool is_supported_layer_type(std::string_view mt) {
  return mt == media::kDockerLayerGzip || mt == media::kDockerForeignLayerGzip || mt == media::kDockerLayerTar ||
         mt == media::kDockerLayerZstd || mt == media::kOciLayer ||
         mt == media::kOciLayerGzip || mt == media::kOciLayerZstd || mt == media::kOciLayerNondist ||
         mt == media::kOciLayerNondistGzip || mt == media::kOciLayerNondistZstd;
}

Compression layer_compression(std::string_view mt) {
  if (mt == media::kOciLayer || mt == media::kOciLayerNondist || mt == media::kDockerLayerTar) {
    return Compression::None;
  }
  if (mt == media::kOciLayerZstd || mt == media::kOciLayerNondistZstd || mt == media::kDockerLayerZstd) {
    return Compression::Zstd;
  }
  if (is_supported_layer_type(mt)) return Compression::Gzip;
  throw unsupported("unsupported layer media type \"" + shorten(mt) + "\"");
}

std::variant<Manifest, Index> parse_manifest(std::string_view body, std::string_view content_type) {
  if (body.size() > kMaxManifestBytes) {
    throw invalid("manifest is too large: " + std::to_string(body.size()) + " bytes (limit " +
                  std::to_string(kMaxManifestBytes) + ")");
  }
  json doc = detail::parse_json(body, "manifest");
  if (!doc.is_object()) throw invalid(std::string("manifest must be a JSON object, not ") + doc.type_name());

  std::string header_type = bare_media_type(content_type);
  std::string mt;
  if (const json* v = member(doc, "mediaType"); v && !v->is_null()) {
    mt = expect_string(*v, "manifest mediaType");
  } else {
    mt = header_type;
  }
  const json* schema = member(doc, "schemaVersion");
  bool schema_one = schema && schema->is_number_integer() && schema->get<std::int64_t>() == 1;
  if (is_schema1(mt) || is_schema1(header_type) || schema_one) {
    throw unsupported(
        "manifest: Docker image manifest version 2, schema 1 is not supported; push the image again "
        "with a current client to upgrade it to schema 2 or OCI");
  }
  if (!schema) throw invalid("manifest: \"schemaVersion\" is missing");
  if (expect_int64(*schema, "manifest schemaVersion") != 2) {
    throw invalid("manifest: unsupported schemaVersion " + schema->dump() + " (want 2)");
  }

  bool has_manifests = doc.contains("manifests");
  bool has_layers = doc.contains("layers");
  bool has_config = doc.contains("config");
  if (is_generic_type(mt)) {
    if (has_manifests && (has_layers || has_config)) {
      throw invalid("manifest: ambiguous document: it has both \"manifests\" and \"layers\"/\"config\"");
    }
    if (has_manifests) {
      mt = media::kOciIndex;
    } else if (has_config || has_layers) {
      mt = media::kOciManifest;
    } else {
      throw invalid("manifest: cannot tell the document type: no mediaType and Content-Type \"" +
                    shorten(header_type) + "\"");
    }
  }
  if (is_index_type(mt)) {
    if (has_layers || has_config) {
      throw invalid("manifest: ambiguous document: index (" + mt + ") has \"" +
                    (has_layers ? "layers" : "config") + "\"");
    }
    return parse_index(doc, mt);
  }
  if (is_manifest_type(mt)) {
    if (has_manifests) {
      throw invalid("manifest: ambiguous document: image manifest (" + mt + ") has \"manifests\"");
    }
    return parse_image_manifest(doc, mt);
  }
  throw unsupported("manifest: unsupported manifest media type \"" + shorten(mt) + "\"");
}

std::string Platform::str() const {
  std::string s = os + "/" + architecture;
  if (!variant.empty()) s += "/" + variant;
  return s;
}

Platform normalize_platform(Platform p) {
  p.os = lower(p.os);
  p.variant = lower(p.variant);
  p.architecture = normalize_arch(lower(p.architecture), p.variant);
  if (!p.variant.empty() && p.variant.front() != 'v' &&
      std::all_of(p.variant.begin(), p.variant.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    p.variant.insert(0, "v");  // arm64 "8" -> "v8"
  }
  return p;
}

Platform default_platform() {
#if defined(__aarch64__)
  return Platform{"linux", "arm64", "v8"};
#elif defined(__arm__)
  return Platform{"linux", "arm", "v7"};
#elif defined(__i386__)
  return Platform{"linux", "386", ""};
#else
  return Platform{"linux", "amd64", ""};
#endif
}

Platform parse_platform(std::string_view text) {
  std::string s = lower(text);
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  auto fail = [&](const std::string& why) -> Error {
    return invalid("invalid platform \"" + shorten(text) + "\": " + why);
  };
  if (parts.size() > 3) throw fail("want os[/architecture[/variant]]");
  for (const auto& part : parts) {
    if (!valid_platform_part(part)) throw fail("components must be non-empty [a-z0-9._-]");
  }
  Platform p;
  if (parts.size() == 1) {
    std::string variant;
    std::string arch = normalize_arch(parts[0], variant);
    if (is_known_arch(arch)) {
      p = Platform{"linux", arch, variant};
    } else {
      p = default_platform();
      p.os = parts[0];
    }
  } else {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  }
  return normalize_platform(std::move(p));
}

bool platform_matches(const Platform& want_in, const Platform& have_in) {
  Platform want = normalize_platform(want_in);
  Platform have = normalize_platform(have_in);
  if (want.os != have.os || want.architecture != have.architecture) return false;
  if (want.variant.empty() && default_variant(want.architecture).empty()) return true;
  std::string wv = want.variant.empty() ? default_variant(want.architecture) : want.variant;
  std::string hv = have.variant.empty() ? default_variant(have.architecture) : have.variant;
  return wv == hv;
}

const Descriptor& choose_platform(const Index& index, const Platform& want_in) {
  Platform want = normalize_platform(want_in);
  const Descriptor* loose = nullptr;  // same os/arch, variant accepted by an empty wanted variant
  const Descriptor* no_platform = nullptr;
  for (const Descriptor& d : index.manifests) {
    if (!is_manifest_type(d.media_type)) continue;  // nested indexes and artifacts
    if (!d.platform) {
      if (!no_platform) no_platform = &d;
      continue;
    }
    if (platform_matches(want, *d.platform)) return d;
    Platform have = normalize_platform(*d.platform);
    if (!loose && want.variant.empty() && have.os == want.os && have.architecture == want.architecture) {
      loose = &d;
    }
  }
  if (loose) return *loose;
  if (no_platform) return *no_platform;
  throw not_found("no matching manifest for " + want.str() + " in the manifest list entries");
}

}  // namespace bocker::registry
