#include "bocker/cli/stdio_stream.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "bocker/runtime/fd.hpp"

namespace bocker::cli {
namespace {

std::uint32_t be32(const char* p) {
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// The write end of the pipe the signal handler reports to while pump() runs.
volatile sig_atomic_t g_signal_pipe = -1;

extern "C" void on_signal_handler(int sig) {
  int saved = errno;
  if (g_signal_pipe >= 0) {
    unsigned char b = static_cast<unsigned char>(sig);
    [[maybe_unused]] ssize_t n = ::write(g_signal_pipe, &b, 1);
  }
  errno = saved;
}

constexpr std::array<int, 5> kForwarded = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};

// Installs the forwarding handlers for its lifetime.
class SignalPipe {
 public:
  SignalPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw SystemError(errno, "pipe2", "signal pipe");
    read_.reset(fds[0]);
    write_.reset(fds[1]);
    g_signal_pipe = write_.get();
    struct sigaction sa {};
    sa.sa_handler = on_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (std::size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &sa, &old_[i]);
  }
  ~SignalPipe() {
    for (std::size_t i = 0; i < kForwarded.size(); ++i) ::sigaction(kForwarded[i], &old_[i], nullptr);
    g_signal_pipe = -1;
  }
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;
  int fd() const { return read_.get(); }

 private:
  Fd read_, write_;
  std::array<struct sigaction, kForwarded.size()> old_{};
};

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "write stdin to", "the container's attach stream");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

void FrameDemuxer::feed(std::string_view data) {
  buf_.append(data);
  std::size_t pos = 0;
  while (buf_.size() - pos >= 8) {
    auto stream = static_cast<unsigned char>(buf_[pos]);
    if (stream > 3) {
      throw Error("malformed stream from the daemon: frame header with stream " + std::to_string(stream));
    }
    std::size_t size = be32(buf_.data() + pos + 4);
    if (buf_.size() - pos - 8 < size) break;
    sink_(static_cast<StdStream>(stream), std::string_view(buf_).substr(pos + 8, size));
    pos += 8 + size;
  }
  buf_.erase(0, pos);
}

std::string make_frame(StdStream stream, std::string_view payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  auto n = static_cast<std::uint32_t>(payload.size());
  f[4] = static_cast<char>(n >> 24);
  f[5] = static_cast<char>(n >> 16);
  f[6] = static_cast<char>(n >> 8);
  f[7] = static_cast<char>(n);
  return f + std::string(payload);
}

void OutputSinks::write(StdStream s, std::string_view data) {
  std::ostream& os = s == StdStream::kStdout ? out : err;
  os.write(data.data(), static_cast<std::streamsize>(data.size()));
  os.flush();
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  termios t{};
  if (fd < 0 || ::isatty(fd) == 0 || ::tcgetattr(fd, &t) != 0) return;
  saved_ = t;
  ::cfmakeraw(&t);
  t.c_oflag |= OPOST;  // keep "\n" -> "\r\n" for local output; the container's tty does its own
  if (::tcsetattr(fd, TCSANOW, &t) != 0) saved_.reset();
}

RawTerminal::~RawTerminal() {
  if (saved_) ::tcsetattr(fd_, TCSANOW, &*saved_);
}

std::optional<std::pair<int, int>> terminal_size(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return std::nullopt;
  return std::make_pair(static_cast<int>(ws.ws_row), static_cast<int>(ws.ws_col));
}

void pump(Hijacked& conn, const PumpOptions& opts, OutputSinks sinks) {
  FrameDemuxer demux([&](StdStream s, std::string_view d) { sinks.write(s, d); });
  auto deliver = [&](std::string_view data) {
    if (opts.tty) {
      sinks.write(StdStream::kStdout, data);
    } else {
      demux.feed(data);
    }
  };
  if (!conn.buffered.empty()) {
    deliver(conn.buffered);
    conn.buffered.clear();
  }
  std::optional<SignalPipe> signals;
  if (opts.on_signal) signals.emplace();
  bool stdin_open = opts.stdin_fd >= 0;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    std::vector<pollfd> fds = {{conn.fd.get(), POLLIN, 0}};
    int in_idx = -1, sig_idx = -1;
    if (stdin_open) {
      in_idx = static_cast<int>(fds.size());
      fds.push_back({opts.stdin_fd, POLLIN, 0});
    }
    if (signals) {
      sig_idx = static_cast<int>(fds.size());
      fds.push_back({signals->fd(), POLLIN, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "poll", "the container's attach stream");
    }
    if (sig_idx >= 0 && (fds[sig_idx].revents & POLLIN) != 0) {
      unsigned char sigs[16];
      ssize_t n = ::read(signals->fd(), sigs, sizeof sigs);
      for (ssize_t i = 0; i < n; ++i) opts.on_signal(sigs[i]);
    }
    if (in_idx >= 0 && (fds[in_idx].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = ::read(opts.stdin_fd, buf.data(), buf.size());
      if (n < 0 && errno != EINTR && errno != EAGAIN) n = 0;  // an unreadable stdin counts as ended
      if (n > 0) {
        send_all(conn.fd.get(), std::string_view(buf.data(), static_cast<std::size_t>(n)));
      } else if (n == 0) {
        stdin_open = false;
        ::shutdown(conn.fd.get(), SHUT_WR);  // the container sees EOF on its stdin
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = ::recv(conn.fd.get(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNRESET) return;
        throw SystemError(errno, "read", "the container's attach stream");
      }
      if (n == 0) return;
      deliver(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
  }
}

}  // namespace bocker::cli
