// Helpers for tests that run the real bockerd: start/stop a daemon process on a temp root and
// socket (by pid), run the bocker and docker CLIs against it, storage roots for both drivers
// (overlay2 on /tmp, btrfs on a loop device made by the test), snapshots of the on-disk store,
// and hand-built images (layer tars, gzip/zstd, schema2/OCI manifests, indexes) pushed to a real
// docker-registry with the registry tests' Pusher.
#pragma once

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../registry/registry_fixture.hpp"
#include "../storage/storage_test_support.hpp"

namespace bocker::daemon::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline const std::string kBockerd = std::string(BOCKER_BINARY_DIR) + "/src/daemon/bockerd";
inline const std::string kBocker = std::string(BOCKER_BINARY_DIR) + "/src/cli/bocker";
inline const std::string kAlpineTarball =
    std::string(BOCKER_SOURCE_DIR) + "/../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz";

struct CmdResult {
  int status = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command, returns its exit status and output (stderr merged).
inline CmdResult run(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool have(const std::string& tool) { return run("command -v " + tool).status == 0; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Does a unix socket accept connections?
inline bool socket_listens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One bockerd process. Started by start(), stopped (SIGTERM, then SIGKILL) by stop() or the
// destructor; kill9() simulates a crash. Never outlives the test.
class DaemonProcess {
 public:
  DaemonProcess(std::string root, std::string sock, std::string log, std::vector<std::string> args = {},
                std::map<std::string, std::string> env = {})
      : root_(std::move(root)), sock_(std::move(sock)), log_(std::move(log)), args_(std::move(args)),
        env_(std::move(env)) {}
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;
  ~DaemonProcess() { stop(); }

  // Starts bockerd and waits until its socket answers. Returns "" or what went wrong (with the log).
  std::string start() {
    if (pid_ > 0) return "already running";
    // A socket left by a killed daemon may still accept for a moment (its io_uring is torn down
    // after the process is reaped): remove it, so only the new daemon's socket counts.
    ::unlink(sock_.c_str());
    std::vector<std::string> argv_s = {kBockerd, "--root", root_, "--host", "unix://" + sock_, "--metrics-addr", ""};
    // Suites that don't test networking stay off the host's default bridge (bridge0 and the nft
    // table `bocker` are the production daemon's): "default" containers then get an empty netns.
    if (std::find(args_.begin(), args_.end(), "--bridge") == args_.end() &&
        std::find(args_.begin(), args_.end(), "-b") == args_.end()) {
      argv_s.insert(argv_s.end(), {"--bridge", "none"});
    }
    argv_s.insert(argv_s.end(), args_.begin(), args_.end());
    pid_ = ::fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own group: a stray docker-registry or terminal signal does not reach it
      for (const auto& [k, v] : env_) ::setenv(k.c_str(), v.c_str(), 1);
      FILE* f = std::freopen(log_.c_str(), "a", stderr);
      (void)f;
      ::dup2(2, 1);
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kBockerd.c_str(), argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 400; ++i) {
      if (socket_listens(sock_)) return "";
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return "bockerd exited at startup; log:\n" + log();
      }
      std::this_thread::sleep_for(25ms);
    }
    return "bockerd did not listen on " + sock_ + " within 10 s; log:\n" + log();
  }

  // SIGTERM, then SIGKILL after 5 s. A sanitizer report in the log fails the test.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        check_sanitizers();
        return;
      }
      std::this_thread::sleep_for(25ms);
    }
    kill9();
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    check_sanitizers();
  }
  void check_sanitizers() const {
    std::string l = log();
    for (const char* what : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
      if (l.find(what) != std::string::npos) ADD_FAILURE() << "bockerd: " << what << "; log:\n" << l;
    }
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
  const std::string& root() const { return root_; }
  const std::string& sock() const { return sock_; }
  std::string log() const { return read_file(log_); }

  // Shell command lines for the CLIs against this daemon.
  std::string bocker(const std::string& args) const {
    return "BOCKER_NO_AUTOSTART=1 " + kBocker + " -H unix://" + sock_ + " " + args;
  }
  std::string docker(const std::string& args) const {
    return "DOCKER_CONFIG=" + root_ + "/.docker-cli DOCKER_HOST=unix://" + sock_ + " docker " + args;
  }
  // A raw API call with curl; prints the body (and "\nHTTP <code>" after it).
  std::string curl(const std::string& method, const std::string& path, const std::string& extra = "") const {
    return "curl -s -X " + method + " --unix-socket " + sock_ + " -w '\\nHTTP %{http_code}' " + extra +
           " 'http://localhost/v1.47" + path + "'";
  }

 private:
  std::string root_, sock_, log_;
  std::vector<std::string> args_;
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;
};

// Where the daemon keeps its state, per storage driver.
enum class Storage { kOverlay2, kBtrfs };

inline std::string storage_name(const ::testing::TestParamInfo<Storage>& p) {
  return p.param == Storage::kBtrfs ? "btrfs" : "overlay2";
}

// A temp dir (unmounted and removed at the end) and, for btrfs, a loop-mounted btrfs inside it.
// root() is the daemon root: <tmp>/root (overlay2) or <tmp>/mnt/root (btrfs).
class TestRoot {
 public:
  explicit TestRoot(Storage s) : storage_(s) {
    if (s == Storage::kBtrfs) {
      btrfs_ = std::make_unique<storage::test::LoopBtrfs>(tmp_.path());
      root_ = btrfs_->mnt() + "/root";
    } else {
      root_ = tmp_.path() + "/root";
    }
  }
  const std::string& dir() const { return tmp_.path(); }
  const std::string& root() const { return root_; }
  std::string driver() const { return storage_ == Storage::kBtrfs ? "btrfs" : "overlay2"; }
  std::string layers_dir() const { return root_ + "/storage/" + driver() + "/layers"; }
  // Directory holding layer `chain_hex`'s files: btrfs the full tree, overlay2 its own diff.
  std::string layer_tree(const std::string& chain_hex) const {
    return layers_dir() + "/" + chain_hex + (storage_ == Storage::kBtrfs ? "/fs" : "/diff");
  }
  Storage storage() const { return storage_; }

 private:
  Storage storage_;
  storage::test::TempDir tmp_;
  std::unique_ptr<storage::test::LoopBtrfs> btrfs_;
  std::string root_;
};

// Skips (with the reason) unless root and, for btrfs, losetup/mkfs.btrfs are there.
#define BOCKER_REQUIRE_ROOT_AND_STORAGE(kind)                                                            \
  do {                                                                                                   \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (storage drivers, loop devices)";                  \
    if ((kind) == ::bocker::daemon::testing::Storage::kBtrfs &&                                       \
        (!::bocker::storage::test::have_tool("losetup") || !::bocker::storage::test::have_tool("mkfs.btrfs"))) \
      GTEST_SKIP() << "losetup or mkfs.btrfs missing: btrfs variant skipped";                           \
  } while (0)

// Every path below `dir` with its type and size ("f 12", "d", "l", "c 0/0"): compared before and
// after a failed operation to show that nothing changed.
inline std::map<std::string, std::string> listing(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::string rel = it->path().string().substr(dir.size());
    if (S_ISREG(st.st_mode)) {
      out[rel] = "f " + std::to_string(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      out[rel] = "d";
    } else if (S_ISLNK(st.st_mode)) {
      out[rel] = "l";
    } else {
      out[rel] = "o " + std::to_string(st.st_mode & S_IFMT);
    }
  }
  return out;
}
inline std::map<std::string, std::string> store_listing(const std::string& root) {
  auto a = listing(root + "/images");
  for (auto& [k, v] : listing(root + "/storage")) a["storage" + k] = v;
  return a;
}

// ---- images built by hand -------------------------------------------------------------------

enum class Compression { kNone, kGzip, kZstd };

inline std::string gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw Error("deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error("deflate did not finish");
  return out;
}

inline std::string zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) throw Error(std::string("ZSTD_compress: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

inline std::string compress(const std::string& tar, Compression c) {
  return c == Compression::kGzip ? gzip(tar) : c == Compression::kZstd ? zstd(tar) : tar;
}

using storage::test::Entry;
inline Entry hardlink(std::string name, std::string target) {
  return {std::move(name), image::tar_type::kHardlink, "", 0644, std::move(target)};
}
inline std::string layer_tar(const std::vector<Entry>& entries) { return storage::test::make_tar(entries); }

struct ImageSpec {
  std::vector<std::string> layers;  // uncompressed tars
  Compression compression = Compression::kGzip;
  bool oci = false;
  std::string architecture = "amd64";
  std::string variant;
  // Overrides: diff_ids written into the config (default: the layers' sha256); blob bytes served
  // for a layer instead of the compressed tar (key: layer index).
  std::optional<std::vector<std::string>> diff_ids;
  std::map<std::size_t, std::string> blob_override;
};

struct PushedImage {
  std::string manifest, manifest_digest, config, config_digest, image_id;
  std::vector<std::string> layer_digests, diff_ids, chain_hex;
  std::string media_type;
};

inline std::string layer_media_type(bool oci, Compression c) {
  if (!oci) {
    return c == Compression::kNone ? "application/vnd.docker.image.rootfs.diff.tar"
                                   : "application/vnd.docker.image.rootfs.diff.tar.gzip";
  }
  return c == Compression::kGzip   ? "application/vnd.oci.image.layer.v1.tar+gzip"
         : c == Compression::kZstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                   : "application/vnd.oci.image.layer.v1.tar";
}

// Pushes the blobs and the manifest of `spec` to `repo`; tags it `tag` (or only pushes it by
// digest when tag is empty).
inline PushedImage push_image(registry::testing::Pusher& pusher, const std::string& repo, const std::string& tag,
                              const ImageSpec& spec) {
  PushedImage img;
  std::vector<std::string> diff_ids;
  for (const auto& t : spec.layers) diff_ids.push_back(registry::sha256_digest(t));
  img.diff_ids = spec.diff_ids.value_or(diff_ids);
  nlohmann::json cfg = {{"architecture", spec.architecture},
                        {"os", "linux"},
                        {"created", "2024-01-02T03:04:05Z"},
                        {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"PATH=/bin"}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", img.diff_ids}}}};
  if (!spec.variant.empty()) cfg["variant"] = spec.variant;
  img.config = cfg.dump();
  img.config_digest = pusher.push_blob(repo, img.config);
  img.image_id = img.config_digest;
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    std::string blob = compress(spec.layers[i], spec.compression);
    if (auto it = spec.blob_override.find(i); it != spec.blob_override.end()) blob = it->second;
    std::string digest = pusher.push_blob(repo, blob);
    img.layer_digests.push_back(digest);
    layers.push_back({{"mediaType", layer_media_type(spec.oci, spec.compression)},
                      {"size", blob.size()},
                      {"digest", digest}});
  }
  // Chain ids: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)).
  std::string chain;
  for (const auto& d : img.diff_ids) {
    chain = chain.empty() ? d : registry::sha256_digest(chain + " " + d);
    img.chain_hex.push_back(chain.substr(7));
  }
  img.media_type = spec.oci ? "application/vnd.oci.image.manifest.v1+json"
                            : "application/vnd.docker.distribution.manifest.v2+json";
  nlohmann::json m = {{"schemaVersion", 2},
                      {"mediaType", img.media_type},
                      {"config",
                       {{"mediaType", spec.oci ? "application/vnd.oci.image.config.v1+json"
                                               : "application/vnd.docker.container.image.v1+json"},
                        {"size", img.config.size()},
                        {"digest", img.config_digest}}},
                      {"layers", layers}};
  img.manifest = m.dump();
  img.manifest_digest = registry::sha256_digest(img.manifest);
  pusher.push_manifest(repo, tag.empty() ? img.manifest_digest : tag, img.manifest, img.media_type);
  return img;
}

// Pushes an index (OCI) or manifest list (Docker) of already pushed images at `tag`.
inline std::string push_index(registry::testing::Pusher& pusher, const std::string& repo, const std::string& tag,
                              const std::vector<std::pair<PushedImage, std::string>>& images_and_arch, bool oci) {
  nlohmann::json manifests = nlohmann::json::array();
  for (const auto& [img, arch] : images_and_arch) {
    nlohmann::json platform = {{"architecture", arch}, {"os", "linux"}};
    if (arch == "arm64") platform["variant"] = "v8";
    manifests.push_back({{"mediaType", img.media_type},
                         {"size", img.manifest.size()},
                         {"digest", img.manifest_digest},
                         {"platform", platform}});
  }
  std::string type = oci ? "application/vnd.oci.image.index.v1+json"
                         : "application/vnd.docker.distribution.manifest.list.v2+json";
  nlohmann::json idx = {{"schemaVersion", 2}, {"mediaType", type}, {"manifests", manifests}};
  return pusher.push_manifest(repo, tag, idx.dump(), type);
}

// Files of the alpine mini rootfs as a one-entry-per-file small layer: a stand-in when a test only
// needs "some small image".
inline std::vector<Entry> small_tree(const std::string& marker) {
  using storage::test::dir;
  using storage::test::file;
  return {dir("etc"), file("etc/hostname", marker + "\n"), dir("bin"), file("bin/tool", "#!/bin/sh\necho " + marker + "\n", 0755)};
}

// `bocker image inspect --format '{{json .RootFS.Layers}}'` etc. parsed.
inline nlohmann::json inspect_json(const DaemonProcess& d, const std::string& name) {
  CmdResult r = run(d.bocker("image inspect " + name));
  if (r.status != 0) return nullptr;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_array() || j.empty()) return nullptr;
  return j[0];
}

}  // namespace bocker::daemon::testing
