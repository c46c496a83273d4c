#include "bocker/cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "bocker/cli/format.hpp"

namespace bocker::cli {
namespace {

std::int64_t detail(const nlohmann::json& msg, const char* key) {
  auto pd = msg.find("progressDetail");
  if (pd == msg.end() || !pd->is_object()) return 0;
  auto it = pd->find(key);
  return it != pd->end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

std::string str_field(const nlohmann::json& msg, const char* key) {
  auto it = msg.find(key);
  return it != msg.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Right-aligns `s` in `width` columns, like Go's "%8v".
std::string right(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// A message that belongs on a layer's own line: it has an id and progress information.
bool is_progress(const nlohmann::json& msg, const std::string& id) {
  return !id.empty() && (msg.contains("progressDetail") || msg.contains("progress"));
}

}  // namespace

std::string progress_bar(std::int64_t current, std::int64_t total) {
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return right(human_size(static_cast<double>(current)), 8);
  int percent = static_cast<int>(static_cast<double>(current) / static_cast<double>(total) * 100) / 2;
  percent = std::clamp(percent, 0, 50);
  std::string s = "[" + std::string(static_cast<std::size_t>(percent), '=') + ">" +
                  std::string(static_cast<std::size_t>(50 - percent), ' ') + "] ";
  s += right(human_size(static_cast<double>(current)), 8);
  if (current <= total) s += "/" + human_size(static_cast<double>(total));
  return s;
}

bool is_terminal(const std::ostream& os) {
  return os.rdbuf() == std::cout.rdbuf() && ::isatty(STDOUT_FILENO) == 1;
}

bool ProgressRenderer::add_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (line.empty()) return !failed_;
  auto msg = nlohmann::json::parse(line, nullptr, false);
  if (!msg.is_object()) {
    out_ << line << "\n";
    return !failed_;
  }
  return add(msg);
}

bool ProgressRenderer::add(const nlohmann::json& msg) {
  if (failed_) return false;
  if (auto ed = msg.find("errorDetail"); ed != msg.end() && ed->is_object()) {
    error_ = str_field(*ed, "message");
    failed_ = true;
  }
  if (auto e = msg.find("error"); e != msg.end() && !e->is_null()) {
    if (error_.empty()) error_ = e->is_string() ? e->get<std::string>() : e->dump();
    failed_ = true;
  }
  if (failed_) {
    if (error_.empty()) error_ = "the daemon reported an error without a message";
    if (tty_) lines_.clear();
    return false;
  }
  std::string id = str_field(msg, "id");
  std::string status = str_field(msg, "status");
  if (id.empty() && !status.empty()) last_status_ = status;
  if (tty_) {
    render_tty(msg, id, status);
  } else {
    render_plain(msg, id, status);
  }
  out_.flush();
  return true;
}

void ProgressRenderer::render_tty(const nlohmann::json& msg, const std::string& id,
                                  const std::string& status) {
  bool progress = is_progress(msg, id);
  std::size_t diff = 0;
  if (progress) {
    auto [it, inserted] = lines_.try_emplace(id, lines_.size());
    if (inserted) out_ << "\n";
    diff = lines_.size() - it->second;  // >= 1: the cursor rests below the last layer line
    out_ << "\x1b[" << diff << "A";
  } else {
    // Anything else ends the block of layer lines; later layer messages start a new one.
    lines_.clear();
  }
  std::string stream = str_field(msg, "stream");
  if (!stream.empty()) {
    out_ << stream;
  } else if (progress) {
    std::string bar = progress_bar(detail(msg, "current"), detail(msg, "total"));
    if (bar.empty()) bar = str_field(msg, "progress");
    out_ << "\x1b[2K\r" << id << ": " << status << " " << bar << "\r";
  } else {
    if (!id.empty()) out_ << id << ": ";
    out_ << status << "\n";
  }
  if (diff > 0) out_ << "\x1b[" << diff << "B";
}

void ProgressRenderer::render_plain(const nlohmann::json& msg, const std::string& id,
                                    const std::string& status) {
  std::string stream = str_field(msg, "stream");
  if (!stream.empty()) {
    out_ << stream;
    return;
  }
  if (id.empty()) {
    if (!status.empty()) out_ << status << "\n";
    return;
  }
  Layer& layer = layers_[id];
  std::int64_t current = detail(msg, "current"), total = detail(msg, "total");
  if (total > 0 && current > 0) {
    bool same = layer.status == status;
    if (same && layer.printed >= 0 && current < total && current - layer.printed < total / 10) return;
    out_ << id << ": " << status << " " << human_size(static_cast<double>(current)) << "/"
         << human_size(static_cast<double>(total)) << "\n";
    layer.printed = current;
  } else {
    if (layer.status == status) return;
    out_ << id << ": " << status << "\n";
    layer.printed = -1;
  }
  layer.status = status;
}

}  // namespace bocker::cli
