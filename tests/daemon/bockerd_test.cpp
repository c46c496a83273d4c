// bockerd as a process: the real docker CLI against it, promtool on /metrics, the root
// lock, clean shutdown on SIGTERM, malformed requests. Each test starts its own daemon on
// a temp root and socket and stops it by pid.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string kBockerd = std::string(BOCKER_BINARY_DIR) + "/src/daemon/bockerd";

struct CmdResult {
  int status = -1;
  std::string out;
};

CmdResult run(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool have(const std::string& tool) { return run("command -v " + tool).status == 0; }

std::string unix_request(const std::string& sock, const std::string& raw) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    (void)!::write(fd, raw.data(), raw.size());
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class Bockerd : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bocker-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    sock_ = dir_ + "/bocker.sock";
    static int next_port = 20000 + (::getpid() % 20000);
    metrics_port_ = next_port++;
    pid_ = start({"--root", root_, "--host", "unix://" + sock_, "--metrics-addr",
                  "127.0.0.1:" + std::to_string(metrics_port_)},
                 dir_ + "/bockerd.log");
    for (int i = 0; i < 200 && !fs::exists(sock_); ++i) std::this_thread::sleep_for(25ms);
    ASSERT_TRUE(fs::exists(sock_)) << "bockerd did not create its socket; log:\n" << log();
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static pid_t start(std::vector<std::string> args, const std::string& log) {
    pid_t pid = ::fork();
    if (pid == 0) {
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(kBockerd.c_str()));
      for (auto& a : args) argv.push_back(a.data());
      static char bridge_flag[] = "--bridge", no_bridge[] = "none";  // stay off the host's bridge0
      argv.push_back(bridge_flag);
      argv.push_back(no_bridge);
      argv.push_back(nullptr);
      ::execv(kBockerd.c_str(), argv.data());
      ::_exit(127);
    }
    return pid;
  }

  std::string log() const {
    std::ifstream in(dir_ + "/bockerd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string docker(const std::string& args) { return "DOCKER_HOST=unix://" + sock_ + " docker " + args; }

  std::string dir_, root_, sock_;
  int metrics_port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(Bockerd, DockerCliVersionAndInfo) {
  if (!have("docker")) GTEST_SKIP() << "no docker CLI on this machine: skipped the docker version/info check";
  auto v = run(docker("version"));
  EXPECT_EQ(v.status, 0) << v.out;
  EXPECT_NE(v.out.find("Server: bocker"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("API version:       1.47"), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find("Error"), std::string::npos) << v.out;

  auto i = run(docker("info"));
  EXPECT_EQ(i.status, 0) << i.out;
  EXPECT_NE(i.out.find("Docker Root Dir: " + root_), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("Cgroup Driver: cgroupfs"), std::string::npos) << i.out;
  EXPECT_EQ(i.out.find("ERROR"), std::string::npos) << i.out;

  auto f = run(docker("version --format '{{.Server.APIVersion}}'"));
  EXPECT_EQ(f.out, "1.47\n");
}

TEST_F(Bockerd, PingAnswersLikeDocker) {
  std::string head = unix_request(sock_, "HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << head;
  EXPECT_NE(head.find("Api-Version: 1.47\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Server: bocker/"), std::string::npos) << head;
  EXPECT_NE(head.find("(linux)"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\n\r\nOK"), std::string::npos) << "HEAD has no body: " << head;
  std::string get = unix_request(sock_, "GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(get.find("\r\n\r\nOK"), std::string::npos) << get;
  std::string missing = unix_request(sock_, "GET /v1.47/plugins HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404", 0), 0U) << missing;
  EXPECT_NE(missing.find("not supported"), std::string::npos) << missing;
}

TEST_F(Bockerd, MalformedRequestsGet400AndTheDaemonLivesOn) {
  std::string bad = unix_request(sock_, "GARBAGE \x01\x02 nonsense\r\n\r\n");
  EXPECT_EQ(bad.rfind("HTTP/1.1 400", 0), 0U) << bad;
  std::string huge = unix_request(sock_, "GET /_ping HTTP/1.1\r\nX-Big: " + std::string(200000, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge.rfind("HTTP/1.1 431", 0), 0U) << huge.substr(0, 100);
  std::string ok = unix_request(sock_, "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0U) << ok;
}

TEST_F(Bockerd, SocketIsOwnerAndGroupOnly) {
  struct stat st{};
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660U);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

TEST_F(Bockerd, MetricsPassPromtool) {
  if (!have("curl")) GTEST_SKIP() << "no curl";
  std::string url = "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics";
  ASSERT_EQ(run("curl -sf --unix-socket " + sock_ + " http://x/_ping").status, 0);  // one API request first
  auto m = run("curl -sf " + url);
  ASSERT_EQ(m.status, 0) << m.out;
  for (const char* name : {"bocker_loop_iterations_total", "bocker_io_uring_submissions_total",
                           "bocker_io_uring_completions_total", "bocker_tasks_alive", "bocker_worker_pool_queue_depth",
                           "bocker_event_loop_lag_seconds_bucket", "bocker_http_requests_total{",
                           "bocker_build_info{"}) {
    EXPECT_NE(m.out.find(name), std::string::npos) << name << " missing from\n" << m.out;
  }
  EXPECT_NE(m.out.find("route=\"/_ping\""), std::string::npos);
  if (!have("promtool")) GTEST_SKIP() << "no promtool (Debian package prometheus): metrics format not checked";
  auto check = run("curl -sf " + url + " | promtool check metrics");
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_EQ(check.out, "") << "promtool complained:\n" << check.out;
}

TEST_F(Bockerd, SecondDaemonOnTheSameRootIsRefused) {
  pid_t other = start({"--root", root_, "--host", "unix://" + dir_ + "/other.sock", "--metrics-addr", ""},
                      dir_ + "/other.log");
  int st = 0;
  ASSERT_EQ(::waitpid(other, &st, 0), other);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 1);
  std::ifstream in(dir_ + "/other.log");
  std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(log.find("is in use by another bockerd (pid " + std::to_string(pid_) + ")"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir_ + "/other.sock"));
}

TEST_F(Bockerd, SigtermShutsDownCleanly) {
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  int st = 0;
  pid_t r = 0;
  for (int i = 0; i < 100 && r == 0; ++i) {
    r = ::waitpid(pid_, &st, WNOHANG);
    if (r == 0) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(r, pid_) << "bockerd still running 5 s after SIGTERM";
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << log();
  EXPECT_FALSE(fs::exists(sock_)) << "the socket is removed on shutdown";
  EXPECT_NE(log().find("stopped"), std::string::npos) << log();
}

TEST(BockerdFlags, BadFlagsExit125WithAMessage) {
  auto r = run(kBockerd + " --bogus");
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.out.find("unknown flag '--bogus'"), std::string::npos) << r.out;
  r = run(kBockerd + " --root relative/dir");
  EXPECT_EQ(r.status, 125);
  EXPECT_NE(r.out.find("absolute path"), std::string::npos) << r.out;
  r = run(kBockerd + " --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--metrics-addr"), std::string::npos) << r.out;
}

}  // namespace

namespace {

// The bocker CLI finds no daemon, starts the real bockerd in the background, says so, and goes on.
TEST(BockerCli, AutostartsTheRealDaemon) {
  char tmpl[] = "/tmp/bocker-autostart-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string bocker = std::string(BOCKER_BINARY_DIR) + "/src/cli/bocker";
  std::string env = "BOCKER_BRIDGE=none BOCKER_ROOT=" + dir + "/root BOCKER_DAEMON_LOG=" + dir +
                    "/d.log BOCKER_METRICS_ADDR= BOCKER_DAEMON_PATH=" +
                    kBockerd + " ";
  std::string host = " -H unix://" + dir + "/b.sock ";

  auto off = run("BOCKER_NO_AUTOSTART=1 " + env + bocker + host + "version");
  EXPECT_EQ(off.status, 1) << off.out;
  EXPECT_NE(off.out.find("Is bockerd running?"), std::string::npos) << off.out;
  EXPECT_FALSE(fs::exists(dir + "/b.sock"));

  auto on = run(env + bocker + host + "version");
  EXPECT_EQ(on.status, 0) << on.out;
  EXPECT_NE(on.out.find("started " + kBockerd), std::string::npos) << on.out;
  EXPECT_NE(on.out.find("Server: bocker"), std::string::npos) << on.out;

  std::ifstream pidfile(dir + "/root/bockerd.pid");
  pid_t pid = 0;
  pidfile >> pid;
  ASSERT_GT(pid, 0);
  auto again = run(env + bocker + host + "info --format '{{.DockerRootDir}}'");
  EXPECT_EQ(again.status, 0);
  EXPECT_EQ(again.out, dir + "/root\n") << "the second call reuses the running daemon";
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_NE(::kill(pid, 0), 0) << "the started daemon stops on SIGTERM";
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
