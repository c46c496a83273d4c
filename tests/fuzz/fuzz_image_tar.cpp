// Feeds arbitrary bytes to the streaming TarReader, split into pieces whose size comes from the
// input, and checks its invariants: the outcome does not depend on the split, data sizes match the
// headers, and only bocker::Error(kInvalid) is thrown. Archives that parse are then extracted into a
// scratch directory created once (devices disabled), which is emptied after every run; an entry
// appearing next to the scratch root would mean an escape, and aborts.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/runtime/error.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Discards everything but checks the sink protocol.
class CheckingSink final : public bocker::image::TarSink {
 public:
  void on_entry(const bocker::image::TarHeader& h) override {
    check(!open_);
    check(h.size >= 0 && !h.name.empty());
    open_ = true;
    expect_ = h.size;
    got_ = 0;
    ++entries;
  }
  void on_data(std::span<const std::byte> c) override {
    check(open_);
    got_ += static_cast<std::int64_t>(c.size());
    check(got_ <= expect_);
  }
  void on_entry_end() override {
    check(open_ && got_ == expect_);
    open_ = false;
  }
  std::uint64_t entries = 0;

 private:
  bool open_ = false;
  std::int64_t expect_ = 0, got_ = 0;
};

// Returns true if the archive parsed; entry count in *entries.
bool parse(std::span<const std::byte> data, std::size_t step, std::uint64_t* entries) {
  CheckingSink sink;
  bocker::image::TarReader r(sink);
  try {
    for (std::size_t off = 0; off < data.size(); off += step)
      r.feed(data.subspan(off, std::min(step, data.size() - off)));
    r.finish();
  } catch (const bocker::Error& e) {
    check(e.kind() == bocker::Error::Kind::kInvalid);
    return false;
  }
  *entries = sink.entries;
  return true;
}

struct Scratch {
  std::string base;
  std::string root;
  int root_fd = -1;
  Scratch() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fuzz-image-tar-XXXXXX").string();
    check(::mkdtemp(tmpl.data()) != nullptr);
    base = tmpl;
    root = base + "/root";
    check(::mkdir(root.c_str(), 0755) == 0);
    root_fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    check(root_fd >= 0);
  }
  ~Scratch() {
    ::close(root_fd);
    std::error_code ec;
    std::filesystem::remove_all(base, ec);
  }
  void clear() {
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(root, ec)) std::filesystem::remove_all(e.path(), ec);
    // Anything beside root would have been written through an escape.
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(base)) ++n;
    check(n == 1);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1 << 20)) return 0;
  auto bytes = std::as_bytes(std::span(data, size));
  std::size_t step = size > 0 ? 1 + data[size - 1] * 7 : 1;
  std::uint64_t whole = 0, split = 0;
  bool ok_whole = parse(bytes, size ? size : 1, &whole);
  bool ok_split = parse(bytes, step, &split);
  check(ok_whole == ok_split);
  if (!ok_whole) return 0;
  check(whole == split);
  if (size > (256 << 10) || whole > 256) return 0;

  static Scratch scratch;
  bocker::image::ExtractOptions opts;
  opts.devices = false;
  opts.whiteouts = static_cast<bocker::image::WhiteoutMode>(size % 3);
  try {
    bocker::image::LayerExtractor ex(scratch.root_fd, opts);
    bocker::image::TarReader r(ex);
    r.feed(bytes);
    r.finish();
  } catch (const std::exception&) {
    // Refusals (escapes, unsupported types, filesystem limits) are expected.
  }
  scratch.clear();
  return 0;
}
