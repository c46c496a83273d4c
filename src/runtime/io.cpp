#include "bocker/runtime/io.hpp"

#include <fcntl.h>

#include <algorithm>
#include <climits>

namespace bocker::rt {

namespace {
constexpr std::size_t kMaxChunk = 1U << 30;
}

Task<long> read_exact(int fd, std::span<std::byte> buf) {
  std::size_t done = 0;
  while (done < buf.size()) {
    auto want = static_cast<unsigned>(std::min(buf.size() - done, kMaxChunk));
    int n = co_await rt::read(fd, buf.data() + done, want);
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) co_return n;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  co_return static_cast<long>(done);
}

Task<long> write_all(int fd, std::span<const std::byte> data, bool socket) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto want = static_cast<unsigned>(std::min(data.size() - done, kMaxChunk));
    int n = socket ? co_await rt::send(fd, data.data() + done, want, MSG_NOSIGNAL)
                   : co_await rt::write(fd, data.data() + done, want);
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) co_return n;
    if (n == 0) co_return -EIO;
    done += static_cast<std::size_t>(n);
  }
  co_return static_cast<long>(done);
}

Task<long> splice_through(int in, int out, int pipe_r, int pipe_w, unsigned n) {
  int got = co_await rt::splice(in, -1, pipe_w, -1, n, SPLICE_F_MOVE);
  if (got <= 0) co_return got;
  long left = got;
  while (left > 0) {
    int put = co_await rt::splice(pipe_r, -1, out, -1, static_cast<unsigned>(left), SPLICE_F_MOVE);
    if (put == -EINTR || put == -EAGAIN) continue;
    if (put < 0) co_return put;
    if (put == 0) co_return -EPIPE;
    left -= put;
  }
  co_return got;
}

}  // namespace bocker::rt
