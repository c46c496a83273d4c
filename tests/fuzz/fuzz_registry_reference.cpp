// Feeds arbitrary text to parse_reference. Bad input must fail with bocker::Error (kInvalid) and
// nothing else; an accepted reference must obey the grammar limits and re-parse identically from
// both its canonical and its familiar form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bocker/registry/digest.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  using namespace bocker::registry;
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  Reference r;
  try {
    r = parse_reference(text);
  } catch (const bocker::Error& e) {
    check(e.kind() == bocker::Error::Kind::kInvalid);
    return 0;
  }
  check(!r.domain.empty() && !r.path.empty());
  check(r.name().size() <= kNameTotalLengthMax);
  check(!r.tag.empty() || !r.digest.empty());
  check(r.tag.empty() || is_valid_tag(r.tag));
  check(r.digest.empty() || is_valid_digest(r.digest));
  check(!r.api_host().empty());
  try {
    check(parse_reference(r.str()) == r);
    check(parse_reference(r.familiar()) == r);
  } catch (const bocker::Error&) {
    std::abort();  // a reference we produced must parse
  }
  return 0;
}
