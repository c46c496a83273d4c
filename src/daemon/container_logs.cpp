// Log capture (FIFOs that outlive the daemon), the rotating log file, and `logs` streaming the
// file(s) back: see container_logs.hpp for the design and what is lost when.
#include "container_logs.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>

#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"

namespace bocker::daemon {

using nlohmann::json;

// ---- options ------------------------------------------------------------------------------

std::int64_t parse_size(const std::string& s) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > (std::int64_t{1} << 50)) throw invalid("invalid size: '" + s + "': too large");
    n = n * 10 + (s[i++] - '0');
  }
  if (i == 0) throw invalid("invalid size: '" + s + "'");
  std::string unit = s.substr(i);
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (unit.size() == 2 && unit[1] == 'b' && unit[0] != 'b') unit.pop_back();
  std::int64_t mul = 0;
  if (unit.empty() || unit == "b") mul = 1;
  if (unit == "k") mul = 1024;
  if (unit == "m") mul = 1024 * 1024;
  if (unit == "g") mul = 1024LL * 1024 * 1024;
  if (mul == 0) throw invalid("invalid size: '" + s + "'");
  if (n > INT64_MAX / mul) throw invalid("invalid size: '" + s + "': too large");
  return n * mul;
}

LogOptions parse_log_config(const json& hc) {
  LogOptions o;
  auto it = hc.find("LogConfig");
  if (it == hc.end() || it->is_null()) return o;
  if (!it->is_object()) throw invalid("HostConfig.LogConfig must be an object");
  std::string type;
  if (auto t = it->find("Type"); t != it->end() && !t->is_null()) {
    if (!t->is_string()) throw invalid("HostConfig.LogConfig.Type must be a string");
    type = t->get<std::string>();
  }
  if (type != "" && type != "json-file" && type != "local" && type != "none") {
    throw invalid("logging driver \"" + type + "\" is not supported (json-file, local, none)");
  }
  if (type == "local") {
    o.max_size = 20 * 1024 * 1024;
    o.max_files = 5;
  }
  o.enabled = type != "none";
  auto cfg = it->find("Config");
  if (cfg == it->end() || cfg->is_null()) return o;
  if (!cfg->is_object()) throw invalid("HostConfig.LogConfig.Config must be an object");
  bool have_size = false, have_files = false;
  for (const auto& [k, v] : cfg->items()) {
    if (!v.is_string()) throw invalid("log option " + k + " must be a string");
    std::string val = v.get<std::string>();
    if (type == "none") throw invalid("unknown log opt '" + k + "' for none log driver");
    if (k == "max-size") {
      o.max_size = parse_size(val);
      if (o.max_size <= 0) throw invalid("invalid max-size: '" + val + "': must be positive");
      have_size = true;
    } else if (k == "max-file") {
      bool digits = !val.empty() && val.size() < 7 && std::all_of(val.begin(), val.end(), [](char ch) {
        return ch >= '0' && ch <= '9';
      });
      if (!digits || std::stoi(val) < 1) throw invalid("invalid max-file: '" + val + "': must be a positive integer");
      o.max_files = std::stoi(val);
      have_files = true;
    } else {
      throw invalid("unknown log opt '" + k + "' for " + (type.empty() ? "json-file" : type) + " log driver");
    }
  }
  if (have_files && !have_size && type != "local" && o.max_files > 1) {
    throw invalid("max-file cannot be set without max-size");
  }
  return o;
}

// ---- the log file -------------------------------------------------------------------------

std::string log_path(const std::string& dir, int index) {
  return index == 0 ? dir + "/container.log" : dir + "/container.log." + std::to_string(index);
}

namespace {

bool pread_full(int fd, void* buf, std::size_t n, std::uint64_t at) {
  ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(at));
  return r == static_cast<ssize_t>(n);
}

// Where the complete records of a log file end. A daemon killed while writing a record leaves
// it cut (a header whose data or trailer is missing); new records must start where the last
// whole one ends, or a reader would take the cut header's length across them. The last
// trailer is checked first (the usual case: one read); when it is damaged, the records are
// walked from the start by their headers.
std::uint64_t whole_records_end(int fd, std::uint64_t size) {
  auto whole_at = [fd](std::uint64_t pos, std::uint64_t end, std::uint32_t& len) {
    LogHeader h;
    LogTrailer t;
    if (end - pos < kLogOverhead || !pread_full(fd, &h, sizeof h, pos)) return false;
    if (h.len > 4 * kCaptureChunk || h.len > end - pos - kLogOverhead) return false;
    if (!pread_full(fd, &t, sizeof t, pos + sizeof h + h.len)) return false;
    len = h.len;
    return t.magic == kLogMagic && t.len == h.len;
  };
  std::uint32_t len = 0;
  if (size == 0) return 0;
  LogTrailer last;
  if (size >= kLogOverhead && pread_full(fd, &last, sizeof last, size - sizeof last) && last.magic == kLogMagic &&
      last.len <= size - kLogOverhead && whole_at(size - kLogOverhead - last.len, size, len) && len == last.len) {
    return size;
  }
  std::uint64_t pos = 0;
  while (whole_at(pos, size, len)) pos += len + kLogOverhead;
  return pos;
}

}  // namespace

void open_log_file(Container& c) {
  if (c.log) return;
  auto lf = std::make_shared<LogFile>();
  lf->dir = c.dir;
  lf->opt = parse_log_config(c.host_config);
  if (lf->opt.enabled) {
    std::string path = log_path(c.dir, 0);
    lf->fd = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
    if (!lf->fd) throw SystemError(errno, "open log", path);
    struct stat st{};
    if (::fstat(lf->fd.get(), &st) != 0) throw SystemError(errno, "stat log", path);
    lf->size = st.st_size;
    std::uint64_t whole = whole_records_end(lf->fd.get(), static_cast<std::uint64_t>(st.st_size));
    if (whole < static_cast<std::uint64_t>(st.st_size)) {
      log_line("container " + c.id.substr(0, 12) + ": " + path + ": dropping " +
               std::to_string(static_cast<std::uint64_t>(st.st_size) - whole) +
               " bytes after the last whole log record (cut by a crash)");
      if (::ftruncate(lf->fd.get(), static_cast<off_t>(whole)) != 0) throw SystemError(errno, "truncate log", path);
      lf->size = static_cast<std::int64_t>(whole);
    }
  }
  c.log = std::move(lf);
}

namespace {

// Blocking: container.log.(n-1) is dropped, each .i becomes .i+1, container.log becomes .1 and
// a new container.log is opened (max-file 1: the file is truncated).
void rotate_files(LogFile& lf) {
  if (lf.opt.max_files <= 1) {
    if (::ftruncate(lf.fd.get(), 0) != 0) throw SystemError(errno, "truncate log", log_path(lf.dir, 0));
    return;
  }
  std::string last = log_path(lf.dir, lf.opt.max_files - 1);
  if (::unlink(last.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "remove rotated log", last);
  for (int i = lf.opt.max_files - 2; i >= 0; --i) {
    std::string from = log_path(lf.dir, i), to = log_path(lf.dir, i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "rotate log", from);
  }
  std::string path = log_path(lf.dir, 0);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (!fd) throw SystemError(errno, "open log", path);
  lf.fd = std::move(fd);
}

}  // namespace

rt::Task<void> log_append(Container& c, int stream, std::string_view data) {
  std::shared_ptr<LogFile> lf = c.log;  // kept alive across the awaits
  if (!lf || !lf->opt.enabled || !lf->fd) co_return;
  while (lf->busy) co_await lf->idle.wait();
  lf->busy = true;
  std::int64_t ts = now_ns();
  std::size_t off = 0;
  while (off < data.size() && lf->fd) {
    std::size_t chunk = data.size() - off;
    if (lf->opt.max_size > 0) {
      std::int64_t room = lf->opt.max_size - lf->size - static_cast<std::int64_t>(kLogOverhead);
      if (room < 1 && lf->size > 0) {
        LogFile* p = lf.get();
        std::string err;
        co_await rt::offload([p, &err] {
          try {
            rotate_files(*p);
          } catch (const std::exception& e) {
            err = e.what();
          }
        });
        if (!err.empty()) {
          // Writing on at offset 0 of whichever file fd still names would overwrite records:
          // the container's output stops reaching the log until its next start.
          log_line("container " + c.id.substr(0, 12) + ": " + err + "; log capture stopped");
          lf->fd.reset();
          break;
        }
        lf->size = 0;
        ++lf->generation;
        c.output.notify_all();
        continue;
      }
      if (room >= 1) chunk = std::min(chunk, static_cast<std::size_t>(room));
    }
    LogHeader h{};
    h.ts_ns = ts;
    h.len = static_cast<std::uint32_t>(chunk);
    h.stream = static_cast<std::uint8_t>(stream);
    LogTrailer t{h.len, kLogMagic};
    iovec iov[3] = {{&h, sizeof h}, {const_cast<char*>(data.data() + off), chunk}, {&t, sizeof t}};
    long want = static_cast<long>(chunk + kLogOverhead);
    // A worker writes the record: an io_uring WRITEV of a buffered ext4 file is punted to an
    // io-wq thread, and the kernel keeps the last such thread alive, waking every 5 s even when
    // every container is idle. The offload is not cancelled by a daemon shutdown, so what was
    // read still reaches the file.
    int fd = lf->fd.get();
    off_t at = lf->size;
    long n = co_await rt::offload([fd, at, &iov] {
      ssize_t w = ::pwritev(fd, iov, 3, at);
      return w < 0 ? -static_cast<long>(errno) : static_cast<long>(w);
    });
    if (n != want) {
      log_line("container " + c.id.substr(0, 12) + ": log write " + log_path(lf->dir, 0) + ": " +
               (n < 0 ? errno_text(static_cast<int>(-n)) : std::string("short write")));
      // Keep the file a sequence of whole records.
      if (n > 0 && ::ftruncate(lf->fd.get(), lf->size) != 0) lf->fd.reset();
      break;
    }
    lf->size += want;
    off += chunk;
  }
  lf->busy = false;
  lf->idle.notify_all();
}

namespace {

constexpr std::size_t kSpliceTrip = 4 * kCaptureChunk;  // most bytes per trip to a worker

// Blocking (a worker): one record of what `fifo` holds, spliced into the log file at `size`
// (advanced past the record). `err` says why the file could not take it; `drop_fd` asks the
// loop to stop writing the file (it could not be truncated back to whole records);
// `no_splice`: the file system refused splice. Returns the bytes taken from the FIFO (see
// log_splice). Touches no LogFile member but reads fd, opt and dir: the loop publishes `size`.
std::size_t splice_record(const LogFile& lf, std::int64_t& size, int fifo, int stream, std::int64_t ts,
                          std::string& err, bool& drop_fd, bool& no_splice) {
  int avail = 0;
  if (::ioctl(fifo, FIONREAD, &avail) != 0 || avail <= 0) return 0;
  std::size_t chunk = std::min<std::size_t>(static_cast<std::size_t>(avail), kCaptureChunk);
  if (lf.opt.max_size > 0) {
    std::int64_t room = lf.opt.max_size - size - static_cast<std::int64_t>(kLogOverhead);
    if (room < 1 && size > 0) return 0;  // log_append rotates
    if (room >= 1) chunk = std::min(chunk, static_cast<std::size_t>(room));
  }
  const int fd = lf.fd.get();
  LogHeader h{};
  h.ts_ns = ts;
  h.len = static_cast<std::uint32_t>(chunk);
  h.stream = static_cast<std::uint8_t>(stream);
  auto fail = [&](const char* what, int e) {
    err = std::string("log ") + what + " " + log_path(lf.dir, 0) + ": " + errno_text(e);
    if (::ftruncate(fd, size) != 0) drop_fd = true;
  };
  if (::pwrite(fd, &h, sizeof h, size) != static_cast<ssize_t>(sizeof h)) {
    fail("write", errno != 0 ? errno : ENOSPC);
    return 0;  // nothing taken: the read path takes (and, failing too, drops) it
  }
  loff_t out = size + static_cast<loff_t>(sizeof h);
  std::size_t moved = 0;
  int splice_errno = 0;
  while (moved < chunk) {
    ssize_t n = ::splice(fifo, nullptr, fd, &out, chunk - moved, SPLICE_F_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) splice_errno = errno;
    if (n <= 0) break;
    moved += static_cast<std::size_t>(n);
  }
  if (moved == 0) {
    // Nothing left the FIFO: EAGAIN (the container read its own FIFO after FIONREAD), or a
    // file system without splice support, or the file refused the data.
    if (::ftruncate(fd, size) != 0) drop_fd = true;
    if (splice_errno == EINVAL) {
      no_splice = true;
    } else if (splice_errno != 0 && splice_errno != EAGAIN) {
      err = std::string("log splice ") + log_path(lf.dir, 0) + ": " + errno_text(splice_errno);
    }
    return 0;
  }
  if (moved < chunk && (splice_errno == 0 || splice_errno == EAGAIN)) {
    // Less than FIONREAD said (the container read some back): a record of what did arrive.
    h.len = static_cast<std::uint32_t>(moved);
    if (::pwrite(fd, &h, sizeof h, size) != static_cast<ssize_t>(sizeof h)) {
      fail("write", errno != 0 ? errno : ENOSPC);
      return moved;  // what left the FIFO is lost, as when a write fails
    }
  } else if (moved < chunk) {
    fail("splice", splice_errno);  // the file refused the rest: what left the FIFO is lost
    return moved;
  }
  LogTrailer t{h.len, kLogMagic};
  if (::pwrite(fd, &t, sizeof t, out) != static_cast<ssize_t>(sizeof t)) {
    fail("write", errno != 0 ? errno : ENOSPC);
    return moved;
  }
  size += static_cast<std::int64_t>(moved + kLogOverhead);
  return moved;
}

}  // namespace

rt::Task<std::size_t> log_splice(Container& c, int stream, int fifo) {
  std::shared_ptr<LogFile> lf = c.log;  // kept alive across the awaits
  if (!lf || !lf->opt.enabled || !lf->fd || lf->no_splice) co_return 0;
  while (lf->busy) co_await lf->idle.wait();
  if (!lf->fd || !c.attachers.empty()) co_return 0;  // a client attached while we waited
  lf->busy = true;
  lf->attached.store(false);
  const LogFile* p = lf.get();
  std::int64_t size = lf->size;
  std::string err;
  bool drop_fd = false, no_splice = false;
  // A writer that keeps the pipe busy gets several records per trip to the worker (each with
  // its own time stamp), up to kSpliceTrip bytes, so the loop is not woken per record. A client
  // attaching ends the trip after the current record.
  std::size_t moved = co_await rt::offload([p, &size, fifo, stream, &err, &drop_fd, &no_splice] {
    std::size_t total = 0;
    while (total < kSpliceTrip && err.empty() && !drop_fd && !no_splice && !p->attached.load()) {
      errno = 0;
      std::size_t n = splice_record(*p, size, fifo, stream, now_ns(), err, drop_fd, no_splice);
      if (n == 0) break;
      total += n;
    }
    return total;
  });
  lf->size = size;
  if (!err.empty()) log_line("container " + c.id.substr(0, 12) + ": " + err);
  if (no_splice) lf->no_splice = true;
  if (drop_fd) {
    log_line("container " + c.id.substr(0, 12) + ": " + log_path(lf->dir, 0) +
             " could not be cut back to whole records; log capture stopped");
    lf->fd.reset();
  }
  lf->busy = false;
  lf->idle.notify_all();
  co_return moved;
}

// ---- capture buffers ----------------------------------------------------------------------

namespace {
constexpr std::size_t kPoolKeep = 4;  // free buffers kept per size
struct PoolSlot {
  std::size_t size;
  std::vector<std::unique_ptr<char[]>> free;
};
thread_local PoolSlot t_pool[2] = {{kCaptureFirstChunk, {}}, {kCaptureChunk, {}}};
PoolSlot* pool_slot(std::size_t size) noexcept {
  for (PoolSlot& s : t_pool) {
    if (s.size == size) return &s;
  }
  return nullptr;
}
}  // namespace

CaptureBuffer CaptureBuffer::take(std::size_t size) {
  CaptureBuffer b;
  PoolSlot* slot = pool_slot(size);
  if (slot != nullptr && !slot->free.empty()) {
    b.p_ = std::move(slot->free.back());
    slot->free.pop_back();
  } else {
    b.p_.reset(new char[size]);  // not zeroed: pages are touched only by what is read into them
  }
  b.size_ = size;
  return b;
}

CaptureBuffer& CaptureBuffer::operator=(CaptureBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    p_ = std::move(o.p_);
    size_ = o.size_;
    o.size_ = 0;
  }
  return *this;
}

void CaptureBuffer::reset() noexcept {
  if (!p_) return;
  PoolSlot* slot = pool_slot(size_);
  if (slot != nullptr && slot->free.size() < kPoolKeep) {
    try {
      slot->free.push_back(std::move(p_));
    } catch (...) {  // no room to keep it: freed below
    }
  }
  p_.reset();
  size_ = 0;
}

// ---- the FIFOs ----------------------------------------------------------------------------

namespace {

// The daemon's read end stays O_NONBLOCK: the open does not wait for a writer, and the
// supervisor reads it with plain read(2) after an io_uring poll. An io_uring READ would be
// punted to an io-wq worker (a named FIFO is not FMODE_NOWAIT), and the kernel keeps the
// last io-wq worker alive, waking it every 5 s: an idle daemon must not wake.
Fd open_fifo_reader(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open fifo", path);
  return fd;
}

void enlarge_pipe(int fd, const std::string& path) {
  static const int max = [] {
    try {
      return std::stoi(read_file("/proc/sys/fs/pipe-max-size"));
    } catch (const std::exception&) {
      return 1024 * 1024;
    }
  }();
  int want = std::min(max, static_cast<int>(kCaptureChunk));
  if (::fcntl(fd, F_SETPIPE_SZ, want) < 0) {
    log_line("containers: F_SETPIPE_SZ " + std::to_string(want) + " " + path + ": " + errno_text(errno));
  }
}

}  // namespace

CaptureFds open_capture(const std::string& dir) {
  CaptureFds c;
  Fd* w[2] = {&c.out_w, &c.err_w};
  Fd* r[2] = {&c.out_r, &c.err_r};
  const char* names[2] = {"/stdout.fifo", "/stderr.fifo"};
  for (int i = 0; i < 2; ++i) {
    std::string path = dir + names[i];
    // A fresh FIFO per start: a grandchild of an earlier run may still hold the old one.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "remove fifo", path);
    if (::mkfifo(path.c_str(), 0600) != 0) throw SystemError(errno, "mkfifo", path);
    w[i]->reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!*w[i]) throw SystemError(errno, "open fifo", path);
    enlarge_pipe(w[i]->get(), path);
    *r[i] = open_fifo_reader(path);
  }
  return c;
}

void reopen_capture(const std::string& dir, Fd& out_r, Fd& err_r) {
  out_r = open_fifo_reader(dir + "/stdout.fifo");
  err_r = open_fifo_reader(dir + "/stderr.fifo");
}

// ---- reading: `logs` ----------------------------------------------------------------------

namespace {

struct Line {
  std::int64_t ts;
  int stream;
  std::string data;
};

// Turns records into what the client gets: stream filter, lines (split here, at read time),
// since/until per line, timestamps, docker's 8-byte frames (raw with a TTY). With `tail` set,
// complete lines go into it instead (the caller keeps the last N).
class Output {
 public:
  Output(http::ResponseWriter& w, const api::LogsOptions& o, bool raw) : w_(w), o_(o), raw_(raw) {
    by_line_ = o.timestamps || o.since > 0 || o.until > 0;
  }
  std::deque<Line>* tail = nullptr;
  std::size_t tail_max = 0;

  bool wants(int stream) const { return stream == kStderr ? o_.stderr_ : o_.stdout_; }

  void record(std::int64_t ts, int stream, std::string_view data) {
    if (!wants(stream)) return;
    int s = stream == kStderr ? 1 : 0;
    if (!by_line_ && tail == nullptr) {
      if (!carry_[s].empty()) {  // a partial line left by --tail -f
        emit(carry_ts_[s], stream, carry_[s]);
        carry_[s].clear();
      }
      emit(ts, stream, data);
      return;
    }
    std::size_t pos = 0;
    while (pos < data.size()) {
      const void* nl = std::memchr(data.data() + pos, '\n', data.size() - pos);
      if (nl == nullptr) {
        if (carry_[s].empty()) carry_ts_[s] = ts;
        carry_[s].append(data.substr(pos));
        break;
      }
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) + 1;
      if (carry_[s].empty()) {
        line(ts, stream, data.substr(pos, end - pos));
      } else {
        carry_[s].append(data.substr(pos, end - pos));
        line(carry_ts_[s], stream, carry_[s]);
        carry_[s].clear();
      }
      pos = end;
    }
  }
  // The partial last lines (end of the logs).
  void finish() {
    for (int s : {0, 1}) {
      if (!carry_[s].empty()) line(carry_ts_[s], s == 1 ? kStderr : kStdout, carry_[s]);
      carry_[s].clear();
    }
  }
  void emit_tail() {
    if (tail == nullptr) return;
    std::deque<Line>* t = tail;
    tail = nullptr;
    for (auto& l : *t) emit(l.ts, l.stream, l.data);
    t->clear();
  }
  rt::Task<void> flush(bool force) {
    if (out_.empty() || (!force && out_.size() < 256 * 1024)) co_return;
    std::string data = std::move(out_);
    out_.clear();
    co_await w_.write(data);
  }

 private:
  void line(std::int64_t ts, int stream, std::string_view data) {
    if (o_.since > 0 && ts < o_.since * 1'000'000'000) return;
    if (o_.until > 0 && ts > o_.until * 1'000'000'000) return;
    if (tail != nullptr) {
      tail->push_back(Line{ts, stream, std::string(data)});
      if (tail->size() > tail_max) tail->pop_front();
      return;
    }
    emit(ts, stream, data);
  }
  void emit(std::int64_t ts, int stream, std::string_view data) {
    std::string stamp = o_.timestamps ? rfc3339_nano(ts) + " " : std::string();
    if (!raw_) {
      char hdr[8] = {static_cast<char>(stream), 0, 0, 0};
      std::uint32_t be = htobe32(static_cast<std::uint32_t>(stamp.size() + data.size()));
      std::memcpy(hdr + 4, &be, 4);
      out_.append(hdr, 8);
    }
    out_ += stamp;
    out_.append(data);
  }

  http::ResponseWriter& w_;
  const api::LogsOptions& o_;
  bool raw_;
  bool by_line_;
  std::string out_;
  std::string carry_[2];
  std::int64_t carry_ts_[2] = {0, 0};
};

// One log file being read forward.
struct Cursor {
  Fd fd;
  std::uint64_t off = 0;
};

// Reads the complete records of `cur` from its offset to EOF into `out`; a record still being
// written (or cut by a crash) is left for later.
rt::Task<void> read_forward(Cursor& cur, Output& out, const std::string& path) {
  std::vector<char> buf(2 * (kCaptureChunk + kLogOverhead));
  std::size_t have = 0;
  bool reread = false;  // a record whose trailer did not match was read again from the file
  for (;;) {
    int n = co_await rt::read(cur.fd.get(), buf.data() + have, static_cast<unsigned>(buf.size() - have),
                              cur.off + have);
    if (n < 0) throw SystemError(-n, "read log", path);
    if (n == 0) co_return;
    have += static_cast<std::size_t>(n);
    std::size_t pos = 0;
    while (have - pos >= kLogOverhead) {
      LogHeader h;
      std::memcpy(&h, buf.data() + pos, sizeof h);
      if (h.len > kCaptureChunk * 4) {
        log_line("containers: corrupt log record in " + path + " at " + std::to_string(cur.off + pos));
        co_return;
      }
      if (have - pos < h.len + kLogOverhead) break;
      LogTrailer t;
      std::memcpy(&t, buf.data() + pos + sizeof h + h.len, sizeof t);
      if (t.magic != kLogMagic || t.len != h.len) {
        // A record cut by a failed write and replaced while we read: read it again, once.
        if (reread) {
          log_line("containers: corrupt log record in " + path + " at " + std::to_string(cur.off + pos));
          co_return;
        }
        reread = true;
        have = pos;  // drop the bytes from this record on
        break;
      }
      reread = false;
      out.record(h.ts_ns, h.stream, std::string_view(buf.data() + pos + sizeof h, h.len));
      pos += h.len + kLogOverhead;
    }
    cur.off += pos;
    std::memmove(buf.data(), buf.data() + pos, have - pos);
    have -= pos;
    co_await out.flush(false);
  }
}

struct Rec {
  std::int64_t ts;
  int stream;
  std::string data;
};

// `logs --tail N`: the newest records of the file at `path` (up to `end`), walking back from the
// end through the trailers until `need` newlines of the wanted streams were seen. Appends them
// newest first to `recs`; returns false when a trailer is damaged (the caller scans forward).
rt::Task<bool> read_backward(int fd, std::uint64_t end, const Output& out, long& need, std::int64_t since_ns,
                             std::vector<Rec>& recs, bool& reached_since) {
  std::uint64_t pos = end;
  while (pos > 0 && need > 0) {
    if (pos < kLogOverhead) co_return false;
    LogTrailer t;
    if (co_await rt::read(fd, &t, sizeof t, pos - sizeof t) != static_cast<int>(sizeof t)) co_return false;
    if (t.magic != kLogMagic || t.len + kLogOverhead > pos) co_return false;
    std::uint64_t start = pos - t.len - kLogOverhead;
    std::string rec(sizeof(LogHeader) + t.len, '\0');
    if (co_await rt::read(fd, rec.data(), static_cast<unsigned>(rec.size()), start) != static_cast<int>(rec.size())) {
      co_return false;
    }
    LogHeader h;
    std::memcpy(&h, rec.data(), sizeof h);
    if (h.len != t.len) co_return false;
    if (since_ns > 0 && h.ts_ns < since_ns) {
      reached_since = true;
      co_return true;
    }
    if (out.wants(h.stream)) need -= static_cast<long>(std::count(rec.begin() + sizeof h, rec.end(), '\n'));
    recs.push_back(Rec{h.ts_ns, h.stream, rec.substr(sizeof h)});
    pos = start;
  }
  co_return true;
}

std::vector<std::string> existing_log_files(const std::string& dir) {
  std::vector<std::string> out;  // oldest first
  for (int i = 64; i >= 0; --i) {
    std::string p = log_path(dir, i);
    if (::access(p.c_str(), F_OK) == 0) out.push_back(p);
  }
  return out;
}

}  // namespace

rt::Task<void> ContainerService::logs(std::string name, api::LogsOptions opts, http::ResponseWriter& w) {
  Container& c = find(name);
  if (!parse_log_config(c.host_config).enabled) {
    throw invalid("configured logging driver does not support reading");
  }
  bool tty = c.tty();
  std::string dir = c.dir, id = c.id;
  std::shared_ptr<LogFile> lf = c.log;
  std::uint64_t gen = lf ? lf->generation : 0;
  std::uint64_t live_end = lf ? static_cast<std::uint64_t>(lf->size) : 0;
  http::Headers h;
  h.add("Content-Type", tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  co_await w.begin_stream(200, std::move(h));
  std::vector<std::string> files = co_await rt::offload([&dir] { return existing_log_files(dir); });
  Output out(w, opts, tty);
  Cursor live;  // the newest file, read on with -f
  if (!files.empty()) {
    std::string live_path = files.back();
    live.fd = co_await rt::offload([&live_path] { return Fd(::open(live_path.c_str(), O_RDONLY | O_CLOEXEC)); });
  }
  if (!live.fd) {
    co_await w.end();
    co_return;
  }
  if (!lf) {
    struct stat st{};
    if (::fstat(live.fd.get(), &st) == 0) live_end = static_cast<std::uint64_t>(st.st_size);
  }
  if (opts.tail >= 0) {
    // Walk back from the end of the newest file, then the older ones, until N+1 newlines: the
    // first kept line is then complete.
    std::deque<Line> tail;
    out.tail = &tail;
    out.tail_max = static_cast<std::size_t>(opts.tail);
    std::vector<Rec> recs;  // newest first
    long need = opts.tail + 1;
    bool reached_since = false;
    for (std::size_t i = files.size(); i-- > 0 && need > 0 && !reached_since && opts.tail > 0;) {
      Cursor f;
      std::uint64_t end = live_end;
      if (i + 1 == files.size()) {
        f.fd.reset(::dup(live.fd.get()));
      } else {
        std::string p = files[i];
        f.fd = co_await rt::offload([&p] { return Fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)); });
        struct stat st{};
        if (!f.fd || ::fstat(f.fd.get(), &st) != 0) continue;
        end = static_cast<std::uint64_t>(st.st_size);
      }
      std::vector<Rec> mine;
      bool ok = co_await read_backward(f.fd.get(), end, out, need, opts.since * 1'000'000'000, mine, reached_since);
      if (!ok) {
        // A damaged file (a crash cut a record): read it forward, keep what the tail needs.
        log_line("container " + id.substr(0, 12) + ": " + files[i] + ": damaged record, reading it forward");
        std::deque<Line> all;
        Output fwd(w, opts, tty);
        fwd.tail = &all;
        fwd.tail_max = static_cast<std::size_t>(opts.tail) + 1;
        Cursor whole;
        whole.fd.reset(::dup(f.fd.get()));
        co_await read_forward(whole, fwd, files[i]);
        mine.clear();
        for (auto it = all.rbegin(); it != all.rend(); ++it) mine.push_back(Rec{it->ts, it->stream, it->data});
        need -= static_cast<long>(all.size());
      }
      recs.insert(recs.end(), std::make_move_iterator(mine.begin()), std::make_move_iterator(mine.end()));
    }
    for (auto it = recs.rbegin(); it != recs.rend(); ++it) out.record(it->ts, it->stream, it->data);
    if (!opts.follow) out.finish();
    out.emit_tail();
    live.off = live_end;
  } else {
    for (std::size_t i = 0; i + 1 < files.size(); ++i) {
      Cursor f;
      std::string p = files[i];
      f.fd = co_await rt::offload([&p] { return Fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)); });
      if (f.fd) co_await read_forward(f, out, p);
    }
    co_await read_forward(live, out, files.back());
    if (!opts.follow) out.finish();
  }
  co_await out.flush(true);
  if (opts.follow) {
    // On until the container stops; a rotation moves the reader to the newer files.
    for (;;) {
      bool more = !c.gone && (c.running() || c.status == "created");
      if (more) co_await c.output.wait();
      co_await read_forward(live, out, log_path(dir, 0));
      if (lf && lf->generation != gen && !c.gone) {
        std::uint64_t d = lf->generation - gen;
        gen = lf->generation;
        int from = static_cast<int>(std::min<std::uint64_t>(d, static_cast<std::uint64_t>(lf->opt.max_files))) - 1;
        for (int i = from; i >= 0; --i) {
          std::string p = log_path(dir, i);
          Fd fd = co_await rt::offload([&p] { return Fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)); });
          if (!fd) continue;
          live.fd = std::move(fd);
          live.off = 0;
          co_await read_forward(live, out, p);
        }
      }
      co_await out.flush(true);
      if (!more || c.gone) break;
    }
    out.finish();
    co_await out.flush(true);
  }
  co_await w.end();
}

}  // namespace bocker::daemon
