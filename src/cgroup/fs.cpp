#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>
#include <thread>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "internal.hpp"

namespace bocker::cgroup::detail {

int try_write_value(const std::string& path, std::string_view value) noexcept {
  // O_TRUNC is ignored by cgroupfs and lets a plain file in a test tree hold just the new value.
  Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return -errno;
  for (;;) {
    ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    // Control files take the whole value in one write; a short write means it was refused.
    if (static_cast<std::size_t>(n) != value.size()) return -EIO;
    return 0;
  }
}

void write_value(const std::string& path, std::string_view value) {
  int rc = try_write_value(path, value);
  if (rc < 0) throw SystemError(-rc, "write \"" + std::string(value) + "\" to", path);
}

std::optional<std::string> read_optional(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw SystemError(errno, "open", path);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      // A cgroup removed under us reads as ENODEV.
      if (errno == ENODEV) return std::nullopt;
      throw SystemError(errno, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool exists(const std::string& path) noexcept { return ::access(path.c_str(), F_OK) == 0; }

bool is_dir(const std::string& path) noexcept {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<pid_t> read_pids(const std::string& procs_path) {
  std::vector<pid_t> out;
  auto text = read_optional(procs_path);
  if (!text) return out;
  std::string_view s = *text;
  while (!s.empty()) {
    auto nl = s.find('\n');
    std::string_view line = trim(s.substr(0, nl));
    s.remove_prefix(nl == std::string_view::npos ? s.size() : nl + 1);
    pid_t pid = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    if (ec == std::errc() && p == line.data() + line.size() && pid > 0) out.push_back(pid);
  }
  return out;
}

std::vector<std::string> subdirs(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    throw SystemError(errno, "opendir", dir);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> owner(d, ::closedir);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (is_dir(dir + "/" + name)) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return true;
  if (errno == EEXIST && is_dir(path)) return false;
  throw SystemError(errno, "mkdir", path);
}

void remove_dir(const std::string& path, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return;
    int err = errno;
    if (err != EBUSY || std::chrono::steady_clock::now() >= deadline) throw SystemError(err, "rmdir", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void check_name(std::string_view what, const std::string& id) {
  bool ok = !id.empty() && id.size() <= 128 && id != "." && id != "..";
  for (char c : id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '.' || c == '-';
    if (!plain) ok = false;
  }
  if (!ok) {
    throw invalid("invalid cgroup " + std::string(what) + " \"" + id +
                  "\": use 1-128 characters from [A-Za-z0-9_.-]");
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace bocker::cgroup::detail
