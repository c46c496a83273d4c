// --rm (HostConfig.AutoRemove) without the client waiting for the cleanup.
//
// Once the exit is recorded and the output drained, the container leaves the API at once: its
// name is free, `wait?condition=removed` answers, `ps -a` and `inspect` no longer find it. The
// kernel and disk cleanup that docker does before answering (cgroup, veth and address, port
// rules, the rootfs, the state dir) follows in the background, off the
// client's critical path. What could observe the difference waits for it: `rmi` first waits for
// pending cleanups (settle()), so an image is never removed under a rootfs still mounted on it.
// If the daemon stops part-way, the record on disk (AutoRemove, not running) is removed at the
// next start by restore(), and the network and cgroup sweeps take what is left.
#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/scope.hpp"
#include "container_network.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

rt::Task<void> ContainerService::auto_remove(Container& c) {
  c.status = "removing";
  c.restart_wake.notify_all();
  c.stdin_w.reset();
  c.pty_master.reset();
  // Anonymous volumes before the answer: `volume ls` right after `run --rm` must not list them
  // (no file work at all when the container has none).
  try {
    co_await remove_anonymous_volumes(c);
  } catch (const std::exception& e) {
    log_line("container " + c.id.substr(0, 12) + ": --rm volumes: " + e.what());
  }
  names_.erase(c.name);
  emit(c, "destroy");
  c.gone = true;
  c.exited.notify_all();
  c.output.notify_all();
  c.removed.notify_all();
  auto node = by_id_.extract(c.id);
  if (node.empty()) co_return;
  ++pending_teardowns_;
  supervisors_.spawn(teardown_removed(std::move(node.mapped())));
}

rt::Task<void> ContainerService::teardown_removed(std::unique_ptr<Container> owned) {
  struct Done {  // also when the daemon's shutdown cancels this part-way
    ContainerService* s;
    ~Done() {
      if (--s->pending_teardowns_ == 0) s->teardowns_idle_.notify_all();
    }
  } done{this};
  Container& c = *owned;
  // The waiters woken by auto_remove() hold references to the record: they run first.
  co_await rt::nop();
  co_await rt::nop();
  std::string id = c.id;
  co_await release_cgroup(c);
  try {
    co_await network_->teardown(c);  // proxies, DNAT rules, veth, address
    co_await network_->forget(c);
    c.log.reset();
    co_await remove_files(c);
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::kCancelled) throw;
    log_line("container " + id.substr(0, 12) + ": --rm: " + e.what());
  } catch (const std::exception& e) {
    log_line("container " + id.substr(0, 12) + ": --rm: " + e.what());
  }
}

rt::Task<void> ContainerService::settle() {
  while (pending_teardowns_ > 0) co_await teardowns_idle_.wait();
}

}  // namespace bocker::daemon
