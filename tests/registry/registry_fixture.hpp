// Test helpers for the registry client: a real docker-registry process per test, a blocking
// pusher (registry upload API over libcurl easy), a flaky TCP proxy and a tiny HTTP server.
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bocker/registry/curl_loop.hpp"
#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/loop.hpp"

namespace bocker::registry::testing {

inline constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bocker-regtest-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw SystemError(errno, "mkdtemp", tmpl);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw SystemError(errno, "write", path);
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
inline Fd listen_loopback(int* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw SystemError(errno, "socket", "");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check_sys(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), "bind", "127.0.0.1:0");
  check_sys(::listen(fd.get(), 64), "listen", "127.0.0.1");
  socklen_t len = sizeof a;
  check_sys(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), "getsockname", "");
  *port = ntohs(a.sin_port);
  return fd;
}

inline int free_port() {
  int port = 0;
  Fd fd = listen_loopback(&port);
  return port;
}

inline Fd connect_loopback(int port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw SystemError(errno, "socket", "");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return fd;
}

// Runs a shell command; returns its exit status.
inline int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

struct RegistryConfig {
  std::string tls_cert, tls_key;  // both set: serve https
  std::string htpasswd;           // set: auth htpasswd
};

// One docker-registry process serving a fresh filesystem store. Stopped by pid in the destructor.
class RegistryServer {
 public:
  RegistryServer(const TempDir& dir, RegistryConfig cfg = {}) : cfg_(std::move(cfg)) {
    port_ = free_port();
    std::string root = dir.file("store-" + std::to_string(port_));
    std::filesystem::create_directories(root);
    std::ostringstream y;
    y << "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " << root
      << "\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" << port_ << "\n";
    if (!cfg_.tls_cert.empty()) {
      y << "  tls:\n    certificate: " << cfg_.tls_cert << "\n    key: " << cfg_.tls_key << "\n";
    }
    if (!cfg_.htpasswd.empty()) {
      y << "auth:\n  htpasswd:\n    realm: bocker-test\n    path: " << cfg_.htpasswd << "\n";
    }
    config_ = dir.file("registry-" + std::to_string(port_) + ".yml");
    log_ = dir.file("registry-" + std::to_string(port_) + ".log");
    write_text(config_, y.str());
    pid_ = ::fork();
    if (pid_ < 0) throw SystemError(errno, "fork", kRegistryBinary);
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl(kRegistryBinary, kRegistryBinary, "serve", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!connect_loopback(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw Error("docker-registry exited at startup: " + read_text(log_));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        throw Error("docker-registry did not listen on 127.0.0.1:" + std::to_string(port_) + ": " +
                    read_text(log_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;
  ~RegistryServer() { stop(); }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return (cfg_.tls_cert.empty() ? "http://" : "https://") + host(); }
  std::string log() const { return read_text(log_); }

 private:
  RegistryConfig cfg_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string config_, log_;
};

// Blocking uploads through the registry API (POST /blobs/uploads/, PUT ?digest=, PUT manifest).
class Pusher {
 public:
  Pusher(std::string base_url, std::string userpwd = {}, std::string ca_file = {})
      : base_(std::move(base_url)), userpwd_(std::move(userpwd)), ca_(std::move(ca_file)) {}

  std::string push_blob(const std::string& repo, const std::string& data) {
    std::string digest = sha256_digest(data);
    Result r = request("POST", base_ + "/v2/" + repo + "/blobs/uploads/", {}, {});
    if (r.status != 202) throw Error("blob upload start: HTTP " + std::to_string(r.status) + " " + r.body);
    std::string loc = r.location;
    if (loc.starts_with("/")) loc = base_ + loc;
    loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
    r = request("PUT", loc, data, "application/octet-stream");
    if (r.status != 201) throw Error("blob upload: HTTP " + std::to_string(r.status) + " " + r.body);
    return digest;
  }

  std::string push_manifest(const std::string& repo, const std::string& tag, const std::string& body,
                            const std::string& media_type) {
    Result r = request("PUT", base_ + "/v2/" + repo + "/manifests/" + tag, body, media_type);
    if (r.status != 201) throw Error("manifest upload: HTTP " + std::to_string(r.status) + " " + r.body);
    return sha256_digest(body);
  }

  struct Image {
    std::string manifest, manifest_digest, config_digest, layer, layer_digest;
  };
  // A schema2 image: a config blob, one layer of `layer_bytes` random bytes, a manifest at `tag`.
  Image push_image(const std::string& repo, const std::string& tag, std::size_t layer_bytes,
                   unsigned seed = 1) {
    Image img;
    std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
    img.config_digest = push_blob(repo, config);
    img.layer = random_bytes(layer_bytes, seed);
    img.layer_digest = push_blob(repo, img.layer);
    std::ostringstream m;
    m << R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
      << R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":)" << config.size()
      << R"(,"digest":")" << img.config_digest << R"("},"layers":[{"mediaType":)"
      << R"("application/vnd.docker.image.rootfs.diff.tar.gzip","size":)" << img.layer.size()
      << R"(,"digest":")" << img.layer_digest << R"("}]})";
    img.manifest = m.str();
    img.manifest_digest =
        push_manifest(repo, tag, img.manifest, "application/vnd.docker.distribution.manifest.v2+json");
    return img;
  }

 private:
  struct Result {
    long status = 0;
    std::string body, location;
  };
  static size_t on_body(char* d, size_t s, size_t n, void* u) {
    static_cast<Result*>(u)->body.append(d, s * n);
    return s * n;
  }
  static size_t on_header(char* d, size_t s, size_t n, void* u) {
    std::string line(d, s * n);
    if (line.size() > 9 && strncasecmp(line.c_str(), "location:", 9) == 0) {
      std::string v = line.substr(9);
      while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
      static_cast<Result*>(u)->location = v;
    }
    return s * n;
  }
  Result request(const std::string& method, const std::string& url, const std::string& body,
                 const std::string& content_type) {
    curl_global_once();
    Result r;
    CURL* e = curl_easy_init();
    curl_slist* h = nullptr;
    if (!content_type.empty()) h = curl_slist_append(h, ("Content-Type: " + content_type).c_str());
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method != "GET") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &r);
    if (!userpwd_.empty()) curl_easy_setopt(e, CURLOPT_USERPWD, userpwd_.c_str());
    if (!ca_.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca_.c_str());
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (rc != CURLE_OK) throw Error(method + " " + url + ": " + curl_easy_strerror(rc));
    return r;
  }

  std::string base_, userpwd_, ca_;
};

// Forwards 127.0.0.1:<port()> to an upstream port. The first `cuts` connections are closed
// after `cut_after` bytes of upstream->client traffic; later ones pass everything.
class FlakyProxy {
 public:
  FlakyProxy(int upstream, std::size_t cut_after, int cuts)
      : upstream_(upstream), cut_after_(cut_after), cuts_(cuts) {
    listen_ = listen_loopback(&port_);
    int p[2];
    check_sys(::pipe2(p, O_CLOEXEC), "pipe2", "");
    stop_r_.reset(p[0]);
    stop_w_.reset(p[1]);
    thread_ = std::thread([this] { serve(); });
  }
  FlakyProxy(const FlakyProxy&) = delete;
  FlakyProxy& operator=(const FlakyProxy&) = delete;
  ~FlakyProxy() {
    [[maybe_unused]] ssize_t n = ::write(stop_w_.get(), "x", 1);
    thread_.join();
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int cut() const { return cut_.load(); }

 private:
  void serve() {
    while (true) {
      pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 || (p[1].revents & POLLIN)) return;
      Fd client(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      int index = connections_++;
      Fd up = connect_loopback(upstream_);
      if (!up) continue;
      if (!pump(client.get(), up.get(), index < cuts_)) return;
    }
  }
  // Returns false when asked to stop.
  bool pump(int client, int up, bool cut) {
    std::size_t down = 0;
    char buf[16384];
    while (true) {
      pollfd p[3] = {{client, POLLIN, 0}, {up, POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
      if (::poll(p, 3, -1) < 0 || (p[2].revents & POLLIN)) return false;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(client, buf, sizeof buf);
        if (n <= 0 || ::send(up, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return true;
      }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(up, buf, sizeof buf);
        if (n <= 0) return true;
        std::size_t len = static_cast<std::size_t>(n);
        if (cut && down + len >= cut_after_) {
          len = cut_after_ - down;
          if (len > 0) ::send(client, buf, len, MSG_NOSIGNAL);
          ++cut_;
          return true;  // both ends close here
        }
        if (::send(client, buf, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) return true;
        down += len;
      }
    }
  }

  int upstream_;
  std::size_t cut_after_;
  int cuts_;
  int port_ = 0;
  Fd listen_, stop_r_, stop_w_;
  std::atomic<int> connections_{0};
  std::atomic<int> cut_{0};
  std::thread thread_;
};

// A one-request-per-connection HTTP/1.1 server on a thread; `handler` gets the request line
// and headers (names lowercased) and returns the whole response (status line onwards).
struct MiniRequest {
  std::string method, target;
  std::map<std::string, std::string> headers;
};
class MiniHttpServer {
 public:
  explicit MiniHttpServer(std::function<std::string(const MiniRequest&)> handler)
      : handler_(std::move(handler)) {
    listen_ = listen_loopback(&port_);
    int p[2];
    check_sys(::pipe2(p, O_CLOEXEC), "pipe2", "");
    stop_r_.reset(p[0]);
    stop_w_.reset(p[1]);
    thread_ = std::thread([this] { serve(); });
  }
  MiniHttpServer(const MiniHttpServer&) = delete;
  MiniHttpServer& operator=(const MiniHttpServer&) = delete;
  ~MiniHttpServer() {
    [[maybe_unused]] ssize_t n = ::write(stop_w_.get(), "x", 1);
    thread_.join();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  static std::string response(int status, const std::string& reason, const std::string& body,
                              const std::vector<std::string>& headers = {}) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return r;
  }

 private:
  void serve() {
    while (true) {
      pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 || (p[1].revents & POLLIN)) return;
      Fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        pollfd q = {c.get(), POLLIN, 0};
        if (::poll(&q, 1, 5000) <= 0) break;
        ssize_t n = ::read(c.get(), buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      MiniRequest req;
      std::istringstream lines(in);
      std::string line;
      std::getline(lines, line);
      std::istringstream first(line);
      first >> req.method >> req.target;
      while (std::getline(lines, line) && line != "\r" && !line.empty()) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
        req.headers[name] = value;
      }
      std::string out = handler_(req);
      ::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL);
    }
  }

  std::function<std::string(const MiniRequest&)> handler_;
  int port_ = 0;
  Fd listen_, stop_r_, stop_w_;
  std::thread thread_;
};

// Runs `body(curl)` on a fresh loop with a CurlLoop, then closes the CurlLoop.
template <class F>
auto run_with_curl(F body) {
  rt::Loop loop;
  CurlLoop curl;
  struct Closer {
    rt::Loop& loop;
    CurlLoop& curl;
    ~Closer() { loop.run(curl.close()); }
  } closer{loop, curl};
  return loop.run(body(curl));
}

#define BOCKER_REQUIRE_REGISTRY()                                                           \
  do {                                                                                      \
    if (::access(::bocker::registry::testing::kRegistryBinary, X_OK) != 0) {                \
      GTEST_SKIP() << "docker-registry is not installed (apt-get install docker-registry)"; \
    }                                                                                       \
  } while (0)

}  // namespace bocker::registry::testing
