// The container I/O of attach, exec start and logs: docker's 8-byte stream framing taken apart,
// the local terminal in raw mode, and the loop that copies stdin to a hijacked connection and the
// connection to stdout/stderr.
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "bocker/cli/client.hpp"

namespace bocker::cli {

// Stream numbers in a frame header.
enum class StdStream : std::uint8_t { kStdin = 0, kStdout = 1, kStderr = 2, kSystemErr = 3 };

// Splits a multiplexed stream ([stream,0,0,0,size BE32] then size bytes) fed in arbitrary pieces.
class FrameDemuxer {
 public:
  using Sink = std::function<void(StdStream, std::string_view)>;
  explicit FrameDemuxer(Sink sink) : sink_(std::move(sink)) {}
  // Hands every whole frame in `data` (plus what was kept from before) to the sink. Throws
  // bocker::Error for a header whose stream byte is not 0-3.
  void feed(std::string_view data);
  // True when a frame is cut off: bytes kept that do not make a whole frame yet.
  bool pending() const noexcept { return !buf_.empty(); }

 private:
  Sink sink_;
  std::string buf_;
};

// One frame as the daemon writes it (for tests and fakes).
std::string make_frame(StdStream stream, std::string_view payload);

// Writes container output to the CLI's streams: stdout frames to `out`, stderr and system-error
// frames to `err`, each flushed at once.
struct OutputSinks {
  std::ostream& out;
  std::ostream& err;
  void write(StdStream s, std::string_view data);
};

// Puts a terminal fd into raw mode for its lifetime (restored on destruction). No-op for a
// non-terminal fd.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const noexcept { return saved_.has_value(); }

 private:
  int fd_;
  std::optional<termios> saved_;
};

// The size of the terminal on `fd`, {rows, cols}; nullopt when it is not a terminal.
std::optional<std::pair<int, int>> terminal_size(int fd);

struct PumpOptions {
  int stdin_fd = -1;  // copied to the connection when >= 0; at its EOF the write side is shut
  bool tty = false;   // raw stream (no framing)
  // Called with a signal (SIGINT, SIGTERM, SIGWINCH, ...) that arrived while pumping, when set.
  std::function<void(int)> on_signal;
};

// Copies between the hijacked connection and the local streams until the daemon closes the
// connection. Throws SystemError for a failed read/write on the connection.
void pump(Hijacked& conn, const PumpOptions& opts, OutputSinks sinks);

}  // namespace bocker::cli
