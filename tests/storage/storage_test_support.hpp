// Test helpers for the storage drivers: temp dirs, a btrfs loop file system, tar building and
// tree views. Needs root; tests skip without it.
#pragma once

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bocker/image/extract.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::storage::test {

inline std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen " + cmd);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error(cmd + " failed: " + out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

inline bool have_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Mount points at or below prefix, deepest last (from /proc/self/mountinfo).
inline std::vector<std::string> mounts_below(const std::string& prefix) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::size_t pos = 0;
    for (int f = 0; f < 4 && pos != std::string::npos; ++f) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    std::string mp = line.substr(pos, line.find(' ', pos) - pos);
    if (mp == prefix || mp.starts_with(prefix + "/")) out.push_back(mp);
  }
  return out;
}

// A fresh directory under /tmp, removed (after unmounting anything left below it) on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bocker-storage-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    auto left = mounts_below(path_);
    for (auto it = left.rbegin(); it != left.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A sparse 1 GiB file on a loop device with a fresh btrfs, mounted at <dir>/mnt. Undone on
// destruction: unmount, detach, remove the file.
class LoopBtrfs {
 public:
  explicit LoopBtrfs(const std::string& dir) : image_(dir + "/btrfs.img"), mnt_(dir + "/mnt") {
    {
      Fd f(::open(image_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!f || ::ftruncate(f.get(), 1LL << 30) != 0) throw std::runtime_error("create " + image_);
    }
    dev_ = run("losetup --find --show " + image_);
    try {
      run("mkfs.btrfs -q " + dev_);
      std::filesystem::create_directories(mnt_);
      if (::mount(dev_.c_str(), mnt_.c_str(), "btrfs", 0, nullptr) != 0) {
        throw std::runtime_error("mount " + dev_ + " on " + mnt_ + ": " + std::strerror(errno));
      }
    } catch (...) {
      cleanup();
      throw;
    }
  }
  LoopBtrfs(const LoopBtrfs&) = delete;
  LoopBtrfs& operator=(const LoopBtrfs&) = delete;
  ~LoopBtrfs() { cleanup(); }
  const std::string& mnt() const { return mnt_; }

 private:
  void cleanup() {
    auto left = mounts_below(mnt_);
    for (auto it = left.rbegin(); it != left.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    if (!dev_.empty()) {
      Fd loop(::open(dev_.c_str(), O_RDWR | O_CLOEXEC));
      if (loop) ::ioctl(loop.get(), LOOP_CLR_FD, 0);
      dev_.clear();
    }
    ::unlink(image_.c_str());
  }

  std::string image_;
  std::string mnt_;
  std::string dev_;
};

struct Entry {
  std::string name;
  char type = image::tar_type::kRegular;
  std::string data;
  unsigned mode = 0644;
  std::string link;
};

inline Entry dir(std::string name, unsigned mode = 0755) {
  return {std::move(name), image::tar_type::kDirectory, "", mode, ""};
}
inline Entry file(std::string name, std::string data, unsigned mode = 0644) {
  return {std::move(name), image::tar_type::kRegular, std::move(data), mode, ""};
}
inline Entry symlink(std::string name, std::string target) {
  return {std::move(name), image::tar_type::kSymlink, "", 0777, std::move(target)};
}

inline std::string make_tar(const std::vector<Entry>& entries) {
  std::string out;
  image::TarWriter w(
      [&](std::span<const std::byte> b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); });
  for (const auto& e : entries) {
    image::TarHeader h;
    h.name = e.name;
    h.type = e.type;
    h.mode = e.mode;
    h.linkname = e.link;
    h.size = static_cast<std::int64_t>(e.data.size());
    h.mtime_sec = 1700000000;
    w.write_header(h);
    if (!e.data.empty()) w.write_data(std::as_bytes(std::span(e.data.data(), e.data.size())));
    w.end_entry();
  }
  w.close();
  return out;
}

inline void extract(int root_fd, const std::string& tar, image::WhiteoutMode mode) {
  image::ExtractOptions opts;
  opts.whiteouts = mode;
  image::LayerExtractor ex(root_fd, opts);
  image::TarReader reader(ex);
  reader.feed(std::as_bytes(std::span(tar.data(), tar.size())));
  reader.finish();
}

// path -> "d 755", "f 644 <content>", "l <target>", "c 1/3", ... for everything below root.
inline std::map<std::string, std::string> view(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = std::filesystem::recursive_directory_iterator(root);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    const std::string p = it->path().string();
    const std::string rel = p.substr(root.size() + 1);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p);
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", st.st_mode & 07777);
    if (S_ISDIR(st.st_mode)) {
      out[rel] = std::string("d ") + mode;
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      out[rel] = std::string("f ") + mode + " " + std::string(std::istreambuf_iterator<char>(in), {});
    } else if (S_ISLNK(st.st_mode)) {
      out[rel] = "l " + std::filesystem::read_symlink(p).string();
    } else {
      out[rel] = "o " + std::to_string(st.st_mode & S_IFMT) + " " + std::to_string(major(st.st_rdev)) + "/" +
                 std::to_string(minor(st.st_rdev));
    }
  }
  return out;
}

inline void write_text(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) throw std::runtime_error("write " + path);
}

}  // namespace bocker::storage::test
