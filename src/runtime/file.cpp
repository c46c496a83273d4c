#include "bocker/runtime/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker {

namespace {
std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void write_all_fd(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "write", path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}
}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, unsigned mode, bool durable) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string tmp = path + ".tmp-" + std::to_string(rng() & 0xffffffffU);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) throw SystemError(errno, "create", tmp);
  try {
    write_all_fd(fd.get(), data, tmp);
    if (durable && ::fsync(fd.get()) != 0) throw SystemError(errno, "fsync", tmp);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw SystemError(errno, "rename " + tmp + " to", path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!durable) return;
  std::string dir = dir_of(path);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) throw SystemError(errno, "open directory", dir);
  if (::fsync(dfd.get()) != 0) throw SystemError(errno, "fsync directory", dir);
}

std::string read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

void make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return;
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) throw SystemError(errno, "mkdir", cur);
  }
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw SystemError(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) throw SystemError(ENOTDIR, "mkdir", path);
}

}  // namespace bocker
