#include "bocker/daemon/container_service.hpp"
#include "container_record.hpp"
#include "container_logs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <random>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/cgroup/limits.hpp"
#include "bocker/container/spawn.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/metrics/container_collector.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"

namespace bocker::daemon {

using nlohmann::json;

rt::Task<void> ContainerService::record(Container& c, int stream, std::string_view data) {
  co_await log_append(c, stream, data);  // container_logs.cpp: the file, rotation
  output_logged(c, stream, data.size());
  if (c.attachers.empty()) co_return;
  std::string frame;
  auto attachers = c.attachers;  // an attacher may leave while we send
  for (Attacher* a : attachers) {
    if (a->broken || (stream == kStdout && !a->out) || (stream == kStderr && !a->err)) continue;
    long n;
    if (a->tty) {
      n = co_await rt::write_all(a->fd, data, true);
    } else {
      if (frame.empty()) {
        frame.resize(8 + data.size());
        frame[0] = static_cast<char>(stream);
        std::uint32_t be = htobe32(static_cast<std::uint32_t>(data.size()));
        std::memcpy(frame.data() + 4, &be, 4);
        std::memcpy(frame.data() + 8, data.data(), data.size());
      }
      n = co_await rt::write_all(a->fd, frame, true);
    }
    if (n < 0) a->broken = true;
  }
}

rt::Task<std::size_t> ContainerService::record_spliced(Container& c, int stream, int fifo) {
  if (!c.attachers.empty()) co_return 0;  // attached clients need the bytes in hand
  std::size_t n = co_await log_splice(c, stream, fifo);  // container_logs.cpp
  if (n != 0) output_logged(c, stream, n);
  co_return n;
}

void ContainerService::output_logged(Container& c, int stream, std::size_t bytes) {
  if (engine_metrics_ != nullptr) engine_metrics_->observe_log(stream == kStderr ? "stderr" : "stdout", bytes);
  c.output.notify_all();  // `logs -f` followers read on
}

rt::Task<void> ContainerService::wait(std::string name, std::string condition, http::ResponseWriter& w) {
  Container& c = find(name);
  http::Headers h;
  h.add("Content-Type", "application/json");
  // The CLI waits for these headers before it sends /start.
  co_await w.begin_stream(200, std::move(h));
  bool want_removed = condition == "removed";
  bool next_exit = condition == "next-exit";
  auto alive = std::make_shared<bool>(true);
  std::string id = c.id;
  if (want_removed) {
    while (!c.gone) co_await c.removed.wait();
  } else if (next_exit || c.running() || c.status == "created") {
    if (next_exit || c.status == "created") {
      // Wait for the next exit of a process that has yet to start or is running.
      co_await c.exited.wait();
      while (c.status == "running" || c.pid != 0) co_await c.exited.wait();
    } else {
      while (c.running()) co_await c.exited.wait();
    }
  }
  // The start error already reached the client through /start; docker leaves Error null here.
  json body = {{"StatusCode", c.exit_code}, {"Error", nullptr}};
  co_await w.write(body.dump() + "\n");
  co_await w.end();
}

rt::Task<void> ContainerService::attach(std::string name, api::AttachOptions opts, http::Request& req,
                                        http::ResponseWriter& w) {
  Container& c = find(name);
  bool tty = c.tty();
  http::Headers h;
  h.add("Content-Type", tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  bool upgrade = req.upgrade;
  if (upgrade) {
    h.add("Connection", "Upgrade");
    h.add("Upgrade", "tcp");
  }
  http::Hijacked hj = co_await w.hijack(upgrade ? 101 : 200, std::move(h), upgrade ? "UPGRADED" : "OK");
  Attacher a{hj.fd.get(), opts.stdout_, opts.stderr_, tty};
  c.attachers.push_back(&a);
  if (c.log) c.log->attached.store(true);  // stops a splice trip in flight (log_splice)
  std::string id = c.id;
  rt::TaskScope stdin_task;
  if (opts.stdin_) {
    stdin_task.spawn([](Container& k, int fd, std::string early) -> rt::Task<void> {
      auto deliver = [](Container& ct, std::string data) -> rt::Task<bool> {
        if (ct.stdin_w) {
          long n = co_await rt::write_all(ct.stdin_w.get(), data);
          co_return n >= 0;
        }
        if (ct.status == "created") {
          ct.stdin_pending += data;  // buffered until start
          co_return true;
        }
        co_return false;
      };
      if (!early.empty() && !co_await deliver(k, std::move(early))) co_return;
      std::vector<char> buf(32 * 1024);
      for (;;) {
        int n = co_await rt::recv(fd, buf.data(), buf.size());
        if (n <= 0) break;
        if (!co_await deliver(k, std::string(buf.data(), static_cast<std::size_t>(n)))) break;
      }
      // The client closed its stdin: close the container's (docker's StdinOnce behaviour).
      if (k.status == "created") {
        k.stdin_closed = true;
      } else if (!k.tty()) {
        k.stdin_w.reset();
      }
    }(c, hj.fd.get(), std::move(hj.leftover)));
  }
  // Until the process has exited and its output is drained (or the container is gone).
  if (c.status == "created") co_await c.exited.wait();
  while (!c.gone && (c.running() || c.pid != 0 || c.status == "running")) co_await c.exited.wait();
  std::erase(c.attachers, &a);
  ::shutdown(hj.fd.get(), SHUT_RDWR);
  stdin_task.cancel();
  co_await stdin_task.join();
  (void)id;
}

// ContainerService::logs is in container_logs.cpp.

rt::Task<void> ContainerService::resize(std::string name, int h, int w) {
  Container& c = find(name);
  if (c.pty_master && h > 0 && w > 0) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(h);
    ws.ws_col = static_cast<unsigned short>(w);
    ::ioctl(c.pty_master.get(), TIOCSWINSZ, &ws);
  }
  co_return;
}

}  // namespace bocker::daemon
