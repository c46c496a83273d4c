#include "bocker/registry/curl_loop.hpp"

#include <poll.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/loop.hpp"

namespace bocker::registry {

void curl_global_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) throw Error(std::string("curl_global_init: ") + curl_easy_strerror(rc));
  });
}

namespace detail {

namespace {
// An eager, self-destroying coroutine for socket watchers and the timer. Their state lives in
// shared_ptrs they hold, so they may outlive the CurlLoop that started them.
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

rt::Task<int> poll_once(int fd, unsigned events) { co_return co_await rt::poll(fd, events); }
rt::Task<bool> sleep_once(long ms) { co_return co_await rt::sleep_for(std::chrono::milliseconds(ms)); }
}  // namespace

// One watched socket: the events curl asked for and the scope that cancels its POLL.
struct Watch {
  int fd = -1;
  unsigned events = 0;
  bool removed = false;
  rt::CancelScope scope;
};

struct TimerSlot {
  bool removed = false;
  rt::CancelScope scope;
};

// What perform() waits on; the easy handle's CURLOPT_PRIVATE points here.
struct Pending {
  bool done = false;
  CURLcode code = CURLE_OK;
  rt::Op* wait = nullptr;  // the parked SleepOp of the awaiting coroutine
};

struct CurlCore : std::enable_shared_from_this<CurlCore> {
  CURLM* multi = nullptr;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
  std::shared_ptr<TimerSlot> timer;
  std::unordered_set<CURL*> transfers;
  int live = 0;  // watcher and timer coroutines not finished yet
  bool closed = false;

  // Removes every transfer (their awaiters resume with CURLE_ABORTED_BY_CALLBACK) and cancels
  // every watcher and the timer.
  void shutdown() {
    closed = true;
    std::vector<CURL*> left(transfers.begin(), transfers.end());
    for (CURL* easy : left) finish(easy, CURLE_ABORTED_BY_CALLBACK);
    while (!watches.empty()) unwatch(watches.begin()->first);
    if (timer) {
      timer->removed = true;
      timer->scope.cancel();
      timer.reset();
    }
  }

  void action(curl_socket_t fd, int mask) {
    if (multi == nullptr) return;
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(multi, fd, mask, &running);
    if (mc != CURLM_OK) {
      std::fprintf(stderr, "bocker registry: curl_multi_socket_action: %s\n", curl_multi_strerror(mc));
    }
    drain();
  }

  void drain() {
    int left = 0;
    while (multi != nullptr) {
      CURLMsg* msg = curl_multi_info_read(multi, &left);
      if (msg == nullptr) break;
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;  // read before remove_handle invalidates msg
      finish(easy, code);
    }
  }

  void finish(CURL* easy, CURLcode code) {
    void* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    curl_multi_remove_handle(multi, easy);
    transfers.erase(easy);
    auto* p = static_cast<Pending*>(priv);
    if (p == nullptr) return;
    p->done = true;
    p->code = code;
    if (p->wait != nullptr) rt::Loop::current().cancel(p->wait);
  }

  void unwatch(int fd) {
    auto it = watches.find(fd);
    if (it == watches.end()) return;
    it->second->removed = true;
    it->second->scope.cancel();
    watches.erase(it);
  }

  static Detached run_watch(std::shared_ptr<CurlCore> core, std::shared_ptr<Watch> w) {
    ++core->live;
    while (true) {
      int r = co_await poll_once(w->fd, w->events).in(w->scope);
      if (w->removed || core->closed || r == -ECANCELED) break;
      int mask = 0;
      if (r < 0) {
        mask = CURL_CSELECT_ERR;
      } else {
        auto rev = static_cast<unsigned>(r);
        if (rev & POLLNVAL) {
          // The fd was closed behind curl's back: report it once instead of spinning on it.
          core->action(w->fd, CURL_CSELECT_ERR);
          break;
        }
        if (rev & (POLLIN | POLLHUP | POLLRDHUP)) mask |= CURL_CSELECT_IN;
        if (rev & POLLOUT) mask |= CURL_CSELECT_OUT;
        if (rev & POLLERR) mask |= CURL_CSELECT_ERR;
      }
      core->action(w->fd, mask);
      if (w->removed) break;
    }
    --core->live;
  }

  static Detached run_timer(std::shared_ptr<CurlCore> core, std::shared_ptr<TimerSlot> slot, long ms) {
    ++core->live;
    bool fired = co_await sleep_once(ms).in(slot->scope);
    if (fired && !slot->removed && !core->closed) {
      if (core->timer == slot) core->timer.reset();
      core->action(CURL_SOCKET_TIMEOUT, 0);
    }
    --core->live;
  }

  static int on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
    auto* core = static_cast<CurlCore*>(userp);
    if (what == CURL_POLL_REMOVE || core->closed) {
      core->unwatch(s);
      return 0;
    }
    unsigned events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= POLLOUT;
    auto it = core->watches.find(s);
    if (it != core->watches.end() && it->second->events == events) return 0;
    core->unwatch(s);
    auto w = std::make_shared<Watch>();
    w->fd = s;
    w->events = events;
    core->watches.emplace(s, w);
    run_watch(core->shared_from_this(), std::move(w));
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* userp) {
    auto* core = static_cast<CurlCore*>(userp);
    if (core->timer) {
      core->timer->removed = true;
      core->timer->scope.cancel();
      core->timer.reset();
    }
    if (timeout_ms < 0 || core->closed) return 0;
    core->timer = std::make_shared<TimerSlot>();
    run_timer(core->shared_from_this(), core->timer, timeout_ms);
    return 0;
  }
};

}  // namespace detail

CurlLoop::CurlLoop() : core_(std::make_shared<detail::CurlCore>()) {
  curl_global_once();
  core_->multi = curl_multi_init();
  if (core_->multi == nullptr) throw Error("curl_multi_init failed");
  curl_multi_setopt(core_->multi, CURLMOPT_SOCKETFUNCTION, &detail::CurlCore::on_socket);
  curl_multi_setopt(core_->multi, CURLMOPT_SOCKETDATA, core_.get());
  curl_multi_setopt(core_->multi, CURLMOPT_TIMERFUNCTION, &detail::CurlCore::on_timer);
  curl_multi_setopt(core_->multi, CURLMOPT_TIMERDATA, core_.get());
  curl_multi_setopt(core_->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(core_->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
}

CurlLoop::~CurlLoop() {
  auto& core = *core_;
  core.shutdown();
  // No callbacks into the core while the multi handle is torn down.
  curl_multi_setopt(core.multi, CURLMOPT_SOCKETFUNCTION, nullptr);
  curl_multi_setopt(core.multi, CURLMOPT_TIMERFUNCTION, nullptr);
  curl_multi_cleanup(std::exchange(core.multi, nullptr));
}

rt::Task<void> CurlLoop::close() {
  core_->shutdown();
  // Each cancelled POLL or timer still delivers its CQE; wait for those coroutines to finish.
  while (core_->live > 0) co_await rt::nop();
}

std::size_t CurlLoop::active_transfers() const noexcept { return core_->transfers.size(); }
std::size_t CurlLoop::watched_sockets() const noexcept { return core_->watches.size(); }
CURLM* CurlLoop::multi() const noexcept { return core_->multi; }

rt::Task<CURLcode> CurlLoop::perform(CURL* easy) {
  detail::Pending p;
  if (core_->closed) throw Error(Error::Kind::kCancelled, "HTTP transfer on a closed CurlLoop");
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &p);
  CURLMcode mc = curl_multi_add_handle(core_->multi, easy);
  if (mc != CURLM_OK) {
    curl_easy_setopt(easy, CURLOPT_PRIVATE, nullptr);
    throw Error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
  }
  core_->transfers.insert(easy);
  std::shared_ptr<detail::CurlCore> core = core_;  // the frame may outlive *this on teardown
  rt::CancelScope* scope = co_await rt::this_scope();
  while (!p.done) {
    // Park on a long timer in the awaiting scope: completion cancels it, and so does a
    // cancellation of the scope.
    rt::SleepOp park = rt::sleep_for(std::chrono::hours(24));
    p.wait = &park.op;
    co_await park;
    p.wait = nullptr;
    if (!p.done && scope != nullptr && scope->cancelled()) {
      if (core->multi != nullptr) curl_multi_remove_handle(core->multi, easy);
      core->transfers.erase(easy);
      curl_easy_setopt(easy, CURLOPT_PRIVATE, nullptr);
      throw Error(Error::Kind::kCancelled, "HTTP transfer cancelled");
    }
  }
  curl_easy_setopt(easy, CURLOPT_PRIVATE, nullptr);
  co_return p.code;
}

}  // namespace bocker::registry
