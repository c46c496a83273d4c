// Safe extraction of an image layer tar into a layer root directory.
//
// Every path is resolved inside the root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so
// neither "..", absolute names nor symlinks created by the archive can reach outside it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bocker/image/tar.hpp"
#include "bocker/runtime/fd.hpp"

namespace bocker::image {

enum class WhiteoutMode {
  kApply,    // the root holds a copy of the lower layers: delete whited-out paths, empty opaque dirs
  kOverlay,  // overlayfs upper dir: ".wh.NAME" -> 0/0 char device NAME, opaque -> trusted.overlay.opaque=y
  kKeep,     // write whiteout entries as plain files (commit diffs)
};

struct ExtractOptions {
  WhiteoutMode whiteouts = WhiteoutMode::kApply;
  bool chown = true;    // apply uid/gid from the archive (needs root; ignored when not root)
  bool devices = true;  // create char/block devices (EPERM is skipped with a warning either way)
  // Start writing file data to disk while extracting (sync_file_range WRITE, which does not wait)
  // for every few MiB written and at the end of each file that is not tiny, so that the syncfs
  // making the layer durable later has little left to wait for.
  bool start_writeback = false;
};

struct ExtractStats {
  std::uint64_t entries = 0;
  std::uint64_t files = 0;
  std::uint64_t dirs = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t hardlinks = 0;
  std::uint64_t specials = 0;  // fifos and devices created
  std::uint64_t whiteouts = 0;
  std::uint64_t bytes = 0;
  std::uint64_t skipped_devices = 0;
  std::uint64_t skipped_xattrs = 0;
  std::vector<std::string> warnings;  // first few, for logs
};

// Normalises an archive path: drops "." and empty components, folds "..". Returns false when the
// path is absolute or ".." climbs above the root. The root itself normalises to "".
bool normalize_entry_path(std::string_view name, std::string& out);

// A TarSink writing into root_fd (borrowed; must stay open). Call finish() (or let
// TarReader::finish() call on_archive_end) to apply directory mtimes once all entries are written.
class LayerExtractor final : public TarSink {
 public:
  explicit LayerExtractor(int root_fd, ExtractOptions opts = {});
  LayerExtractor(const LayerExtractor&) = delete;
  LayerExtractor& operator=(const LayerExtractor&) = delete;

  void on_entry(const TarHeader& header) override;
  void on_data(std::span<const std::byte> chunk) override;
  void on_entry_end() override;
  void on_archive_end() override { finish(); }
  void finish();

  const ExtractStats& stats() const noexcept { return stats_; }

 private:
  struct DirTime {
    std::string path;
    std::int64_t sec;
    std::uint32_t nsec;
  };

  Fd open_dir(const std::string& path, bool create, const std::string& entry);
  void remove_existing(int parent, const std::string& base, const std::string& path, bool keep_dir);
  void apply_whiteout(const std::string& dir, const std::string& base);
  void make_hardlink(const TarHeader& h, const std::string& path, int parent, const std::string& base);
  void apply_meta(const TarHeader& h, int fd, int parent, const std::string& base, const std::string& path);
  void set_xattr(int fd, int parent, const std::string& base, const std::string& key,
                 const std::string& value, const std::string& path);
  void warn(std::string msg);

  int root_;
  ExtractOptions opts_;
  bool is_root_;
  ExtractStats stats_;
  // Paths written by this layer (normalised) -> typeflag; guards hardlinks and opaque dirs.
  std::unordered_map<std::string, char> layer_;
  std::vector<DirTime> dir_times_;
  // Entry being written.
  std::string entry_;
  Fd file_;
  bool discard_ = false;
  TarHeader pending_;               // header of the open regular file (metadata applied at entry end)
  std::uint64_t file_written_ = 0;  // bytes written to file_
  std::uint64_t file_kicked_ = 0;   // bytes of file_ whose writeback was started
  bool finished_ = false;
};

// Reads a tar stream from fd to EOF and extracts it into root_fd.
ExtractStats extract_layer(int root_fd, int tar_fd, ExtractOptions opts = {});

// Removes name (file or whole tree) in dir_fd without following symlinks. ENOENT is not an error.
// Errors read "<op>unlinkat <what>: <strerror>"; `what` is the path shown, `op` a prefix.
void remove_tree_at(int dir_fd, const std::string& name, const std::string& what, const std::string& op = {});

// The names in the directory open at dir_fd (consumed: closed on return), without "." and "..",
// sorted. Errors read "<op>readdir <what>: <strerror>".
std::vector<std::string> sorted_entries(Fd dir_fd, const std::string& what, const std::string& op = {});

}  // namespace bocker::image
