// Helpers shared by the tar reader, writer and extractor tests.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bocker/image/tar.hpp"

namespace bocker::image::testing {

// A fresh directory under $TMPDIR, removed (whole tree, symlinks not followed) when destroyed.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bocker-tar-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

inline std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_text(const std::string& path, const std::string& s) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << s;
}

// Runs a python3 script (with `import tarfile, io, sys` already done) whose first argument is
// the output path, and returns the bytes it wrote there. `out` is the path variable in the script.
inline std::vector<std::byte> make_tar(const TempDir& dir, const std::string& body) {
  static int seq = 0;
  std::string script = dir / ("gen" + std::to_string(++seq) + ".py");
  std::string tar = dir / ("gen" + std::to_string(seq) + ".tar");
  write_text(script, "import tarfile, io, sys, os, struct\nout = sys.argv[1]\n" + body + "\n");
  std::string cmd = "python3 " + script + " " + tar;
  int rc = std::system(cmd.c_str());
  if (rc != 0) throw std::runtime_error("python3 failed (" + std::to_string(rc) + "): " + body);
  return read_bytes(tar);
}

inline bool have_python() { return std::system("python3 -c 'import tarfile' >/dev/null 2>&1") == 0; }

// An entry as recorded by RecordingSink.
struct Recorded {
  TarHeader header;
  std::string data;
};

class RecordingSink : public TarSink {
 public:
  void on_entry(const TarHeader& h) override {
    ASSERT_FALSE(open_) << "on_entry while " << entries.back().header.name << " still open";
    entries.push_back({h, {}});
    open_ = true;
  }
  void on_data(std::span<const std::byte> c) override {
    ASSERT_TRUE(open_);
    entries.back().data.append(reinterpret_cast<const char*>(c.data()), c.size());
  }
  void on_entry_end() override {
    ASSERT_TRUE(open_);
    EXPECT_EQ(entries.back().data.size(), static_cast<std::size_t>(entries.back().header.size));
    open_ = false;
  }
  void on_archive_end() override { ended = true; }
  std::vector<Recorded> entries;
  bool ended = false;

 private:
  bool open_ = false;
};

// Feeds data to a reader in chunks of `chunk` bytes (0: all at once) and finishes.
inline void feed_all(TarReader& r, std::span<const std::byte> data, std::size_t chunk = 0) {
  if (chunk == 0) chunk = data.size() ? data.size() : 1;
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    r.feed(data.subspan(off, std::min(chunk, data.size() - off)));
  }
  r.finish();
}

inline std::vector<Recorded> parse(std::span<const std::byte> data, std::size_t chunk = 0) {
  RecordingSink sink;
  TarReader r(sink);
  feed_all(r, data, chunk);
  return std::move(sink.entries);
}

}  // namespace bocker::image::testing
