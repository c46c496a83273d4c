// Feeds arbitrary bytes to the request parser, split at points taken from the input, and
// checks its invariants: it never consumes more than it is given, a failed parser reports
// 400/413/431 with a name, and a complete request re-parses the same way in one piece.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bocker/http/parser.hpp"
#include "bocker/http/router.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Parses `data` as a stream of pipelined requests, feeding pieces of at most `step` bytes.
void run(std::string_view data, std::size_t step, bool stream_some) {
  bocker::http::ParserLimits limits{.max_header_bytes = 4096, .max_body_bytes = 4096};
  bocker::http::RequestParser p(limits);
  if (stream_some) p.set_stream_decider([](bocker::http::Request& r) { return r.path.size() % 2 == 0; });
  std::string pending;
  std::size_t pos = 0;
  int messages = 0;
  while (messages < 64) {
    if (pending.empty()) {
      if (pos >= data.size()) break;
      std::size_t n = std::min(step, data.size() - pos);
      pending.assign(data.substr(pos, n));
      pos += n;
    }
    std::size_t used = p.feed(pending);
    check(used <= pending.size());
    pending.erase(0, used);
    (void)p.take_body_chunk();
    if (p.failed()) {
      int s = p.error().status;
      check(s == 400 || s == 413 || s == 431);
      check(!p.error().name.empty());
      check(p.feed("GET / HTTP/1.1\r\n\r\n") == 0);
      return;
    }
    if (p.complete()) {
      bocker::http::Request r = p.take();
      check(!r.method.empty());
      check(r.body.size() <= limits.max_body_bytes);
      check(r.path.empty() || !r.raw_path.empty());
      ++messages;
      if (r.upgrade) return;  // the rest is another protocol
    } else if (used == 0 && !pending.empty()) {
      std::abort();  // a parser that neither fails nor consumes would spin the server
    }
  }
  (void)p.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + bytes[0] % 37;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  run(data, data.size() + 1, false);
  run(data, step, bytes[0] & 1);

  // The router must cope with whatever path the parser accepted.
  bocker::http::Router router;
  router.get("/containers/{id}/json", {});
  router.get("/images/{name:.*}/json", {});
  bocker::http::Request r;
  r.method = "GET";
  r.raw_path = std::string(data.substr(0, 256));
  r.path = r.raw_path;
  (void)router.match(r);
  return 0;
}
