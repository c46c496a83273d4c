// bocker init DIR [NAME[:TAG]]: a directory (dotfiles included) becomes a one-layer image. The tree
// is tarred on a worker thread into a bounded queue that feeds the chunked request body of
// POST /images/create?fromSrc=-, so a large tree is never held in memory. Prints the image id.
#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <span>
#include <thread>

#include "bocker/image/tar.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

constexpr std::size_t kQueueBytes = 4 << 20;   // what the tar thread may run ahead of the upload
constexpr std::size_t kChunkBytes = 64 << 10;  // small writes are merged into chunks up to this size

// A bounded byte pipe from one writer thread to one reader thread.
class ByteQueue {
 public:
  // Blocks while the queue is full. Throws Error(kCancelled) once the reader has gone.
  void write(std::span<const std::byte> data) {
    std::unique_lock lk(mu_);
    while (!data.empty()) {
      cv_.wait(lk, [&] { return cancelled_ || size_ < kQueueBytes; });
      if (cancelled_) throw Error(Error::Kind::kCancelled, "the upload of the tar stream stopped");
      std::size_t n = std::min(data.size(), kQueueBytes - size_);
      const char* p = reinterpret_cast<const char*>(data.data());
      if (!chunks_.empty() && chunks_.back().size() + n <= kChunkBytes) {
        chunks_.back().append(p, n);
      } else {
        chunks_.emplace_back(p, n);
      }
      size_ += n;
      data = data.subspan(n);
      cv_.notify_all();
    }
  }
  // The writer is done; `error` (if any) is thrown to the reader instead of an end of stream.
  void finish(std::exception_ptr error) {
    std::lock_guard lk(mu_);
    done_ = true;
    error_ = std::move(error);
    cv_.notify_all();
  }
  // The reader is done: the writer's next write throws.
  void cancel() {
    std::lock_guard lk(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  // Blocks until there is data or the writer is done; 0 at the end.
  std::size_t read(char* buf, std::size_t max) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return size_ > 0 || done_; });
    if (error_) std::rethrow_exception(error_);
    std::size_t out = 0;
    while (out < max && !chunks_.empty()) {
      std::string& front = chunks_.front();
      std::size_t n = std::min(max - out, front.size() - offset_);
      std::memcpy(buf + out, front.data() + offset_, n);
      out += n;
      offset_ += n;
      if (offset_ == front.size()) {
        chunks_.pop_front();
        offset_ = 0;
      }
    }
    size_ -= out;
    cv_.notify_all();
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  std::size_t offset_ = 0;  // consumed bytes of chunks_.front()
  std::size_t size_ = 0;    // unconsumed bytes
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

// Tars the tree below `dir_fd` into `queue` on its own thread; stops and joins it on destruction.
class TarProducer {
 public:
  TarProducer(int dir_fd, ByteQueue& queue) : queue_(queue) {
    thread_ = std::thread([dir_fd, &queue] {
      try {
        image::TarWriter w([&queue](std::span<const std::byte> b) { queue.write(b); });
        w.add_tree(dir_fd);
        w.close();
        queue.finish(nullptr);
      } catch (...) {
        queue.finish(std::current_exception());
      }
    });
  }
  ~TarProducer() {
    queue_.cancel();
    thread_.join();
  }
  TarProducer(const TarProducer&) = delete;
  TarProducer& operator=(const TarProducer&) = delete;

 private:
  ByteQueue& queue_;
  std::thread thread_;
};

int run_init(Context& ctx) {
  const std::string& dir = ctx.args[0];
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) throw SystemError(errno, "open directory", dir);
  ImportQuery q;
  q.repository = ctx.args.size() > 1 ? ctx.args[1] : std::string();
  q.message = "bocker init " + dir;
  ImportResult result;
  {
    ByteQueue queue;
    TarProducer producer(dir_fd.get(), queue);
    result = import_image(ctx, q, [&queue](char* buf, std::size_t max) { return queue.read(buf, max); });
  }
  return print_import(ctx, result);
}

}  // namespace

Command init_command() {
  return Command{.name = "init",
                 .summary = "Create an image from a directory",
                 .usage = "DIRECTORY [NAME[:TAG]]",
                 .description =
                     "Create an image from a directory: its whole tree, dotfiles included, becomes "
                     "the image's one layer.\nWithout a NAME the image is untagged; its id is "
                     "printed either way.",
                 .min_args = 1,
                 .max_args = 2,
                 .handler = run_init};
}

}  // namespace bocker::cli
