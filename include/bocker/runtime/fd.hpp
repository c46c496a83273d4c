// RAII owners for file descriptors and memory mappings.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

namespace bocker {

// Move-only owner of one file descriptor. A moved-from Fd holds -1 and closes nothing.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Move-only owner of an mmap()ed region.
class Mmap {
 public:
  Mmap() noexcept = default;
  Mmap(void* addr, std::size_t len) noexcept : addr_(addr), len_(len) {}
  Mmap(const Mmap&) = delete;
  Mmap& operator=(const Mmap&) = delete;
  Mmap(Mmap&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mmap& operator=(Mmap&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~Mmap() { reset(); }

  void* data() const noexcept { return addr_; }
  std::size_t size() const noexcept { return len_; }
  void reset() noexcept {
    if (addr_ != nullptr && addr_ != MAP_FAILED) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }

 private:
  void* addr_ = nullptr;
  std::size_t len_ = 0;
};

}  // namespace bocker
