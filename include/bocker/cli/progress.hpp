// Renders a Docker JSON progress stream (pull, import: one JSON message per line) the way the
// docker CLI does. On a terminal every layer keeps one line that is redrawn in place (ANSI
// cursor-up/down and erase-line); elsewhere each status change is one plain line, and repeated
// "Downloading"/"Extracting" updates of a layer print only after another 10% of its total.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>

namespace bocker::cli {

// Docker's progress box for a layer: "[=========>     ]  12.3MB/45.6MB" (a 50-column bar); just
// the right-aligned current size when the total is unknown; "" when there is nothing to show.
std::string progress_bar(std::int64_t current, std::int64_t total);

// True when `os` writes to the process's stdout and stdout is a terminal.
bool is_terminal(const std::ostream& os);

class ProgressRenderer {
 public:
  ProgressRenderer(std::ostream& out, bool tty) : out_(out), tty_(tty) {}

  // One line of the stream. Lines that are not JSON objects are printed as they are; blank lines
  // are ignored. Returns false once the stream has reported an error.
  bool add_line(std::string_view line);
  // One decoded message: {"status","id","progressDetail":{"current","total"},"progress",
  // "stream","error","errorDetail":{"message"}}. An error message is recorded, not printed.
  bool add(const nlohmann::json& msg);

  bool failed() const noexcept { return failed_; }
  // The message of the first error in the stream ("errorDetail.message", else "error").
  const std::string& error() const noexcept { return error_; }
  // The last "status" without an "id" (import: "sha256:<id>").
  const std::string& last_status() const noexcept { return last_status_; }

 private:
  struct Layer {
    std::string status;
    std::int64_t printed = -1;  // plain mode: `current` at the last printed progress line
  };
  void render_tty(const nlohmann::json& msg, const std::string& id, const std::string& status);
  void render_plain(const nlohmann::json& msg, const std::string& id, const std::string& status);

  std::ostream& out_;
  bool tty_;
  bool failed_ = false;
  std::string error_;
  std::string last_status_;
  std::map<std::string, std::size_t> lines_;  // tty: layer id -> its line, counted from the first
  std::map<std::string, Layer> layers_;       // plain: what was printed per id
};

}  // namespace bocker::cli
