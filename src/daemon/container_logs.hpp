// Internal to the daemon: log capture that survives the daemon, the rotating log file, and live
// restore helpers (container_logs.cpp, container_restore.cpp). Not a public header.
//
// Capture design
// --------------
// A container's stdout and stderr are FIFOs in its state dir, <dir>/stdout.fifo and
// <dir>/stderr.fifo, not anonymous pipes. The container's fd 1 and 2 are opened O_RDWR on them,
// so the container itself always holds a reader: a write never gets EPIPE/SIGPIPE, whether a
// daemon is there or not. The daemon holds only an O_RDONLY end, so it still sees EOF once the
// container and everything that inherited its fds are gone. The pipe buffer is enlarged with
// F_SETPIPE_SZ to /proc/sys/fs/pipe-max-size (1 MiB here). What happens when bockerd is down
// (SIGTERM, kill -9, crash):
//  - the container keeps writing into the FIFO; up to 1 MiB per stream is buffered in the
//    kernel; beyond that its write(2) blocks until a daemon comes back. Nothing is dropped.
//  - a restarted bockerd re-opens the same FIFOs (the path is the state dir) and drains what was
//    written meanwhile, with the time of the drain as the lines' timestamps (not the write time).
//  - lost: output still in a FIFO when the container exits while no daemon runs (the last fd of
//    the pipe closes and the kernel frees its buffer); with kill -9 only (not SIGTERM), the one
//    chunk per stream (<= 1 MiB) the daemon had read but not yet written to the file.
//  - -t containers use a pty whose master the daemon reads; a copy is held by the fd keeper
//    (fd_keeper.hpp), so the terminal does not hang up with the daemon. What the container
//    writes meanwhile waits in the pty (a few KiB, then its write blocks) and a restarted daemon
//    takes the master back and captures on; stdin and attach work again. Lost: output written
//    by a -t container that exits while no daemon runs (the keeper lets go of a hung-up pty).
//  - stdin (-i) is a pipe the daemon writes: the container sees EOF on it when the daemon dies.
// The alternative with no blocking at all, the container writing straight into a file that the
// daemon indexes, loses per-line timestamps (and the stream split needs two files) and lets a
// container fill the disk past max-size; a bounded buffer plus back-pressure keeps both.
// A side effect: the container can read its own stdout fd (it is O_RDWR), stealing its output.
//
// Log file format: records of LogHeader (16 bytes), the bytes of one read, and a LogTrailer
// (8 bytes, the length again and a magic) so `logs --tail` can walk backwards from the end. The
// capture path does one writev per read (up to 1 MiB) and no per-line work; lines are split when
// the file is read. Rotation: container.log -> container.log.1 -> ... up to max-file files.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/runtime/event.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/process.hpp"
#include "bocker/runtime/task.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

struct LogTrailer {
  std::uint32_t len;
  std::uint32_t magic;
};
static_assert(sizeof(LogTrailer) == 8);
constexpr std::uint32_t kLogMagic = 0x474c4b42;  // "BKLG"
constexpr std::size_t kLogOverhead = sizeof(LogHeader) + sizeof(LogTrailer);
constexpr unsigned kCaptureChunk = 1024 * 1024;  // one read from a FIFO, one record at most
constexpr unsigned kCaptureFirstChunk = 64 * 1024;  // the first read after a FIFO became readable

// A read buffer for the capture readers, borrowed from a small per-thread pool. A reader waits for
// its FIFO to become readable (a poll, no buffer) and takes a buffer only then, giving it back
// once the FIFO is drained: an idle container holds no buffer, so 1000 idle containers cost no
// capture memory. Loop thread only.
class CaptureBuffer {
 public:
  CaptureBuffer() = default;
  static CaptureBuffer take(std::size_t size);
  CaptureBuffer(CaptureBuffer&& o) noexcept : p_(std::move(o.p_)), size_(o.size_) { o.size_ = 0; }
  CaptureBuffer& operator=(CaptureBuffer&& o) noexcept;
  CaptureBuffer(const CaptureBuffer&) = delete;
  CaptureBuffer& operator=(const CaptureBuffer&) = delete;
  ~CaptureBuffer() { reset(); }
  char* data() const noexcept { return p_.get(); }
  std::size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept;  // back to the pool (or freed when the pool is full)

 private:
  std::unique_ptr<char[]> p_;
  std::size_t size_ = 0;
};

// HostConfig.LogConfig: {"Type": "json-file"|"local"|""|"none", "Config": {"max-size", "max-file"}}.
// We accept docker's driver names and store our own format. Defaults follow docker's per
// driver: json-file (and "") unlimited, local 20m x 5. "none": nothing is written to disk
// (attach still works; logs answers an error).
struct LogOptions {
  bool enabled = true;
  std::int64_t max_size = 0;  // bytes per file; 0 = unlimited
  int max_files = 1;
};
// Validates (Error kInvalid -> 400, naming the option) and returns the options.
LogOptions parse_log_config(const nlohmann::json& host_config);
// "10m" -> 10 MiB (docker's units: b, k, m, g, optional trailing b, case-insensitive).
std::int64_t parse_size(const std::string& s);

// The open log file of a running container. Loop thread only, except inside rotate().
struct LogFile {
  std::string dir;
  LogOptions opt;
  Fd fd;                         // <dir>/container.log; records are written at `size`
  std::int64_t size = 0;         // bytes of complete records in fd
  std::uint64_t generation = 0;  // rotations so far (a follower reading an older file catches up)
  bool busy = false;             // a write or rotation is in flight
  bool no_splice = false;        // the file system refused splice(2): read and write instead
  // Set on the loop when a client attaches: a worker splicing records stops after the current
  // one, so what follows reaches the client.
  std::atomic<bool> attached{false};
  rt::Notifier idle;
};
std::string log_path(const std::string& dir, int index);  // 0: container.log, n: container.log.n
// Blocking: opens (creates) the container's log file unless it is open; Type "none": no file.
void open_log_file(Container& c);
// Appends one record (split so no file passes max-size), rotating as needed. Never throws.
rt::Task<void> log_append(Container& c, int stream, std::string_view data);
// Moves what `fifo` (O_NONBLOCK) holds, at most kCaptureChunk, into the log file as one record
// with splice(2): pipe pages to the page cache with no copy through the daemon. Returns the
// bytes taken from the FIFO; 0 when this path does not apply (logging off, nothing queued, a
// rotation is due, the file refused the header): the caller then reads the FIFO and calls
// log_append, which does all of those. Never throws.
rt::Task<std::size_t> log_splice(Container& c, int stream, int fifo);

// The FIFOs. Blocking.
struct CaptureFds {
  Fd out_w, err_w;  // the container's ends (O_RDWR), given to spawn
  Fd out_r, err_r;  // the daemon's read ends
};
// Fresh FIFOs (any old ones are replaced), both ends opened, pipe buffers enlarged.
CaptureFds open_capture(const std::string& dir);
// The daemon's read ends of the existing FIFOs of an adopted container.
void reopen_capture(const std::string& dir, Fd& out_r, Fd& err_r);

// /proc/<pid>/stat starttime (clock ticks since boot); 0 when the process is gone.
std::uint64_t process_start_time(pid_t pid);
// The exit of the container's process: a child is reaped (real status); an adopted process is
// polled through its pidfd and its status taken from /proc while it is a zombie, else lost
// (code 255, c.error says so). Throws Error(kCancelled) when the supervisor is cancelled.
rt::Task<rt::ExitStatus> wait_process_exit(Container& c);

}  // namespace bocker::daemon
