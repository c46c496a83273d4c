// Feeds arbitrary bytes to the manifest, platform and image config parsers. The first byte picks the
// Content-Type. Bad input must fail with bocker::Error only; accepted documents must hold their
// invariants (valid digests, sizes >= 0, known layer types) and image configs must round-trip.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "bocker/registry/digest.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/registry/manifest.hpp"
#include "bocker/runtime/error.hpp"

namespace {

using namespace bocker::registry;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_descriptor(const Descriptor& d) {
  check(is_valid_digest(d.digest));
  check(d.size >= 0);
  check(!d.media_type.empty());
}

void fuzz_manifest(std::string_view body, std::string_view content_type) {
  std::variant<Manifest, Index> parsed;
  try {
    parsed = parse_manifest(body, content_type);
  } catch (const bocker::Error&) {
    return;
  }
  if (const auto* m = std::get_if<Manifest>(&parsed)) {
    check_descriptor(m->config);
    for (const auto& l : m->layers) {
      check_descriptor(l);
      (void)layer_compression(l.media_type);  // must not throw for an accepted layer
    }
    return;
  }
  const Index& idx = std::get<Index>(parsed);
  for (const auto& d : idx.manifests) check_descriptor(d);
  for (const Platform& want :
       {default_platform(), Platform{"linux", "arm64", ""}, Platform{"linux", "arm", "v7"}}) {
    try {
      const Descriptor& d = choose_platform(idx, want);
      check(&d >= idx.manifests.data() && &d < idx.manifests.data() + idx.manifests.size());
    } catch (const bocker::Error& e) {
      check(e.kind() == bocker::Error::Kind::kNotFound);
    }
  }
}

void fuzz_config(std::string_view body) {
  ImageConfig c;
  try {
    c = parse_image_config(body);
  } catch (const bocker::Error&) {
    return;
  }
  for (const auto& id : c.diff_ids) check(is_valid_digest(id));
  try {
    check(parse_image_config(to_json(c).dump()) == c);
  } catch (const bocker::Error&) {
    std::abort();  // our own output must parse
  }
}

void fuzz_platform(std::string_view text) {
  try {
    Platform p = parse_platform(text);
    check(!p.os.empty() && !p.architecture.empty());
    check(parse_platform(p.str()) == p);
  } catch (const bocker::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  static constexpr std::array<std::string_view, 8> kTypes = {
      "",
      media::kDockerManifest,
      media::kOciManifest,
      media::kDockerManifestList,
      media::kOciIndex,
      media::kDockerSchema1Signed,
      "application/json; charset=utf-8",
      "application/vnd.oci.image.index.v1+json ; x=y",
  };
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  fuzz_manifest(body, kTypes[bytes[0] % kTypes.size()]);
  fuzz_config(body);
  fuzz_platform(body.substr(0, 64));
  return 0;
}
