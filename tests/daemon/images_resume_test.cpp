// An interrupted pull resumes: bockerd is killed with SIGKILL in the middle of a multi-layer pull
// served slowly through a throttling proxy; after a restart the incomplete layer is gone, the
// committed ones are reused ("Already exists") and the pull completes. On overlay2 and btrfs.
#include <poll.h>

#include <atomic>
#include <list>
#include <mutex>
#include <set>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using registry::testing::Pusher;
using registry::testing::RegistryServer;
using ::testing::HasSubstr;

// Forwards 127.0.0.1:port() to `upstream`, each connection on its own thread, sending at most
// `bytes_per_tick` upstream->client bytes every 10 ms. Stops (closing every connection) on
// destruction.
class SlowProxy {
 public:
  SlowProxy(int upstream, std::size_t bytes_per_tick) : upstream_(upstream), per_tick_(bytes_per_tick) {
    listen_ = registry::testing::listen_loopback(&port_);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  SlowProxy(const SlowProxy&) = delete;
  SlowProxy& operator=(const SlowProxy&) = delete;
  ~SlowProxy() {
    stop_ = true;
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p = {listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      Fd client(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      Fd up = registry::testing::connect_loopback(upstream_);
      if (!up) continue;
      std::lock_guard lock(mu_);
      conns_.emplace_back(
          [this, c = std::move(client), u = std::move(up)]() mutable { pump(c.get(), u.get()); });
    }
  }
  // Sends everything unless the peer fails or the proxy stops (a paused reader cannot block it).
  bool send_all(int fd, const char* data, std::size_t len) {
    while (len > 0 && !stop_) {
      pollfd p = {fd, POLLOUT, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      data += n;
      len -= static_cast<std::size_t>(n);
    }
    return len == 0;
  }
  void pump(int client, int up) {
    char buf[65536];
    while (!stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
      if (::poll(p, 2, 50) < 0) return;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0 || !send_all(up, buf, static_cast<std::size_t>(n))) return;
      }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(up, buf, std::min(sizeof buf, per_tick_));
        if (n <= 0 || !send_all(client, buf, static_cast<std::size_t>(n))) return;
        std::this_thread::sleep_for(10ms);
      }
    }
  }

  int upstream_;
  std::size_t per_tick_;
  int port_ = 0;
  Fd listen_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::list<std::thread> conns_;
  std::thread accept_thread_;
};

// A child process running a command line ("VAR=x prog args", run through `exec env` so that the
// pid is the program's own) with its output in a file; killed if still running.
class Background {
 public:
  Background(const std::string& cmd, const std::string& out) : out_(out) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", ("exec env " + cmd + " >" + out + " 2>&1").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int wait() {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string output() const { return read_file(out_); }

 private:
  std::string out_;
  pid_t pid_ = -1;
};

class ResumeTest : public ::testing::TestWithParam<Storage> {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(GetParam());
    BOCKER_REQUIRE_REGISTRY();
    root_ = std::make_unique<TestRoot>(GetParam());
    registry_ = std::make_unique<RegistryServer>(regdir_);
    pusher_ = std::make_unique<Pusher>(registry_->url());
    daemon_ = std::make_unique<DaemonProcess>(
        root_->root(), root_->dir() + "/bocker.sock", root_->dir() + "/bockerd.log",
        std::vector<std::string>{"--storage-driver", root_->driver(), "--max-concurrent-downloads", "1"});
    std::string err = daemon_->start();
    ASSERT_EQ(err, "");
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "bockerd log:\n" << daemon_->log();
    daemon_.reset();
    registry_.reset();
    root_.reset();
  }
  // Layer ids in storage: committed ones and those still marked incomplete.
  std::pair<std::set<std::string>, std::set<std::string>> layers() const {
    std::set<std::string> done, partial;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_->layers_dir(), ec); !ec && it != fs::directory_iterator();
         ++it) {
      std::string id = it->path().filename();
      if (id.starts_with(".")) continue;  // a layer being created (".tmp-ID"): neither begun nor done yet
      (fs::exists(it->path() / "incomplete") ? partial : done).insert(id);
    }
    return {done, partial};
  }

  // Committed layers still marked "unsynced" (not yet made durable by a finished pull).
  std::set<std::string> unsynced() const {
    std::set<std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_->layers_dir(), ec); !ec && it != fs::directory_iterator();
         ++it) {
      if (fs::exists(it->path() / "unsynced")) out.insert(it->path().filename());
    }
    return out;
  }
  // Four 512 KiB layers pushed as slow:v1 and served at ~1.6 MB/s (about 0.35 s a layer) through
  // `proxy`; returns the name to pull through it.
  PushedImage push_slow_image(std::unique_ptr<SlowProxy>& proxy, std::string& name) {
    ImageSpec spec;
    spec.oci = true;
    spec.compression = Compression::kNone;
    for (unsigned i = 0; i < 4; ++i) {
      spec.layers.push_back(layer_tar({storage::test::file(
          "layer" + std::to_string(i), registry::testing::random_bytes(512 * 1024, 10 + i))}));
    }
    PushedImage img = push_image(*pusher_, "slow", "v1", spec);
    proxy = std::make_unique<SlowProxy>(registry_->port(), 16 * 1024);
    name = "127.0.0.1:" + std::to_string(proxy->port()) + "/slow:v1";
    return img;
  }

  registry::testing::TempDir regdir_;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<Pusher> pusher_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_P(ResumeTest, KilledDaemonMidPullResumesAfterRestart) {
  std::unique_ptr<SlowProxy> proxy;
  std::string name;
  PushedImage img = push_slow_image(proxy, name);

  Background first(daemon_->bocker("pull " + name), root_->dir() + "/pull1.out");
  // Wait until at least one layer is committed and a later one is begun, then crash the daemon.
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    auto [done, partial] = layers();
    ready = !done.empty() && !partial.empty();
    if (!ready) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ready) << "the pull never had a committed and a begun layer at once; pull output:\n"
                     << first.output();
  daemon_->kill9();
  EXPECT_NE(first.wait(), 0) << first.output();
  auto [done_at_crash, partial_at_crash] = layers();
  ASSERT_FALSE(partial_at_crash.empty()) << "the crash left no incomplete layer to clean up";
  ASSERT_LT(done_at_crash.size(), 4U);
  // The pull syncs its layers once, at its end: the committed ones are still marked unsynced.
  EXPECT_EQ(unsynced(), done_at_crash);

  ASSERT_EQ(daemon_->start(), "");
  auto [done_after_restart, partial_after_restart] = layers();
  EXPECT_TRUE(partial_after_restart.empty())
      << "incomplete layers survive a restart: " << ::testing::PrintToString(partial_after_restart)
      << " (at the crash: " << ::testing::PrintToString(partial_at_crash) << ")";
  EXPECT_EQ(done_after_restart, done_at_crash);
  EXPECT_TRUE(unsynced().empty()) << "same boot: the restart syncs and keeps them";
  EXPECT_EQ(run(daemon_->bocker("images -q")).out, "") << "no image from the interrupted pull";

  auto r = run(daemon_->bocker("pull " + name));
  ASSERT_EQ(r.status, 0) << r.out;
  std::size_t already = 0;
  for (std::size_t pos = 0; (pos = r.out.find("Already exists", pos)) != std::string::npos; ++pos) ++already;
  EXPECT_EQ(already, done_at_crash.size()) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Status: Downloaded newer image for " + name));
  auto [done, partial] = layers();
  EXPECT_TRUE(partial.empty());
  EXPECT_TRUE(unsynced().empty());
  EXPECT_EQ(done, std::set<std::string>(img.chain_hex.begin(), img.chain_hex.end()));
  auto j = inspect_json(*daemon_, name);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["Id"], img.image_id);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(fs::file_size(root_->layer_tree(img.chain_hex[i]) + "/layer" + std::to_string(i)), 512U * 1024);
  }
}

// The machine went down mid-pull (simulated: the daemon is killed and the unsynced markers get
// another boot id): the committed-but-unsynced layers may have lost content, so the restart
// removes them, and the next pull downloads every layer again.
TEST_P(ResumeTest, UnsyncedLayersOfAnEarlierBootAreRemovedAtStart) {
  std::unique_ptr<SlowProxy> proxy;
  std::string name;
  PushedImage img = push_slow_image(proxy, name);
  Background first(daemon_->bocker("pull " + name), root_->dir() + "/pull1.out");
  bool ready = false;
  for (int i = 0; i < 600 && !ready; ++i) {
    auto [done, partial] = layers();
    ready = !done.empty() && !partial.empty();
    if (!ready) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ready) << "the pull never had a committed and a begun layer at once; pull output:\n"
                     << first.output();
  daemon_->kill9();
  EXPECT_NE(first.wait(), 0) << first.output();
  std::set<std::string> at_crash = unsynced();
  ASSERT_FALSE(at_crash.empty());
  for (const auto& id : at_crash) {
    storage::test::write_text(root_->layers_dir() + "/" + id + "/unsynced",
                              "00000000-1111-2222-3333-444444444444\n");
  }

  ASSERT_EQ(daemon_->start(), "");
  auto [done_after, partial_after] = layers();
  EXPECT_TRUE(done_after.empty()) << ::testing::PrintToString(done_after);
  EXPECT_TRUE(partial_after.empty()) << ::testing::PrintToString(partial_after);
  if (root_->driver() == "overlay2") {
    EXPECT_TRUE(fs::is_empty(root_->root() + "/storage/overlay2/l")) << "short links left behind";
  }
  auto r = run(daemon_->bocker("pull " + name));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("Already exists")));
  auto [done, partial] = layers();
  EXPECT_EQ(done, std::set<std::string>(img.chain_hex.begin(), img.chain_hex.end()));
  EXPECT_TRUE(unsynced().empty());
  EXPECT_EQ(inspect_json(*daemon_, name)["Id"], img.image_id);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(fs::file_size(root_->layer_tree(img.chain_hex[i]) + "/layer" + std::to_string(i)), 512U * 1024);
  }
}

TEST_P(ResumeTest, ClientGoingAwayCancelsThePullCleanly) {
  ImageSpec spec;
  spec.oci = true;
  spec.compression = Compression::kNone;
  spec.layers = {layer_tar({storage::test::file("big", registry::testing::random_bytes(2 << 20, 21))})};
  PushedImage img = push_image(*pusher_, "gone", "v1", spec);
  SlowProxy proxy(registry_->port(), 8 * 1024);
  std::string name = "127.0.0.1:" + std::to_string(proxy.port()) + "/gone:v1";
  auto before = store_listing(root_->root());
  {
    Background client(daemon_->bocker("pull " + name), root_->dir() + "/pull.out");
    bool begun = false;
    for (int i = 0; i < 500 && !begun; ++i) {
      begun = !layers().second.empty();
      if (!begun) std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(begun) << client.output();
  }  // SIGKILL to the CLI: the daemon sees its client go away
  bool clean = false;
  for (int i = 0; i < 500 && !clean; ++i) {
    clean = store_listing(root_->root()) == before;
    if (!clean) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(clean) << "the cancelled pull left its layer behind";
  EXPECT_TRUE(daemon_->running());
  auto r = run(daemon_->bocker("pull " + registry_->host() + "/gone:v1"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(inspect_json(*daemon_, registry_->host() + "/gone:v1")["Id"], img.image_id);
}

INSTANTIATE_TEST_SUITE_P(Drivers, ResumeTest, ::testing::Values(Storage::kOverlay2, Storage::kBtrfs),
                         storage_name);

}  // namespace
}  // namespace bocker::daemon::testing
