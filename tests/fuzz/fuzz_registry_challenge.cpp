// libFuzzer target: WWW-Authenticate challenge parsing (and the X-Registry-Auth decoder, which
// also takes untrusted header text). Either a result or bocker::Error, nothing else.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bocker/registry/auth.hpp"
#include "bocker/runtime/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    auto challenges = bocker::registry::parse_www_authenticate(in);
    for (const auto& c : challenges) {
      if (c.scheme.empty()) std::abort();
      for (char ch : c.scheme) {
        if (ch >= 'A' && ch <= 'Z') std::abort();  // schemes come out lowercased
      }
      for (const auto& [name, value] : c.params) {
        if (name.empty() || value.size() > size) std::abort();
      }
    }
  } catch (const bocker::Error&) {
  }
  try {
    (void)bocker::registry::decode_registry_auth(in);
  } catch (const bocker::Error&) {
  }
  return 0;
}
