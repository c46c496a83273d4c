// Streaming tar reading and writing (ustar, GNU long names, PAX) for image layers.
//
// TarReader is fed arbitrary chunks and reports entries to a TarSink; TarWriter produces a tar
// stream (PAX records where ustar cannot hold a value) into a byte callback. Both are blocking,
// single-threaded and meant to run on a worker thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bocker::image {

// Typeflag values (the raw byte of the header). Old-style '\0' regular files are reported as kRegular,
// '7' (contiguous) too; other unknown flags are passed through unchanged.
namespace tar_type {
inline constexpr char kRegular = '0';
inline constexpr char kHardlink = '1';
inline constexpr char kSymlink = '2';
inline constexpr char kChar = '3';
inline constexpr char kBlock = '4';
inline constexpr char kDirectory = '5';
inline constexpr char kFifo = '6';
}  // namespace tar_type

inline constexpr std::size_t kTarBlock = 512;
// Largest PAX extended header or GNU long name/link payload accepted.
inline constexpr std::int64_t kMaxTarMetaSize = 1 << 20;

struct TarHeader {
  std::string name;      // as stored (PAX path / GNU long name applied), not normalised
  std::string linkname;  // symlink target or hardlink target
  char type = tar_type::kRegular;
  std::uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (mask 07777)
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  std::int64_t size = 0;  // data bytes that follow (0 for header-only types)
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
  std::uint32_t devmajor = 0;
  std::uint32_t devminor = 0;
  std::map<std::string, std::string> xattrs;  // from PAX SCHILY.xattr.<name>
};

// Receives the entries of an archive in order: on_entry, then on_data chunks adding up to
// header.size, then on_entry_end. on_archive_end is called once by TarReader::finish().
class TarSink {
 public:
  virtual ~TarSink() = default;
  virtual void on_entry(const TarHeader& header) = 0;
  virtual void on_data(std::span<const std::byte> chunk) = 0;
  virtual void on_entry_end() = 0;
  virtual void on_archive_end() {}
};

// A sink that drops everything (fuzzing, validation, draining).
class DiscardSink final : public TarSink {
 public:
  void on_entry(const TarHeader&) override { ++entries; }
  void on_data(std::span<const std::byte> chunk) override { bytes += chunk.size(); }
  void on_entry_end() override {}
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
};

// Streaming, strict tar parser. Malformed input throws bocker::Error(kInvalid) naming the entry;
// exceptions from the sink propagate. After any exception the reader refuses further input.
class TarReader {
 public:
  explicit TarReader(TarSink& sink) : sink_(sink) {}
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  void feed(std::span<const std::byte> data);
  // End of input. Missing end-of-archive zero blocks are tolerated at an entry boundary; anything
  // cut inside a header, an extended header or file data is an error.
  void finish();

  bool at_end() const noexcept { return state_ == State::kEnd; }
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  enum class State { kHeader, kMeta, kData, kPadding, kSecondZero, kEnd, kFailed };

  void on_block(const std::byte* block);
  void start_entry(const std::byte* block);
  void finish_meta();
  void end_entry();
  [[noreturn]] void fail(const std::string& what);

  TarSink& sink_;
  State state_ = State::kHeader;
  std::uint64_t offset_ = 0;  // bytes consumed
  std::byte block_[kTarBlock];
  std::size_t block_fill_ = 0;
  // Current entry.
  std::string entry_name_;
  std::int64_t remaining_ = 0;
  std::int64_t padding_ = 0;
  // Extended metadata being collected (typeflag 'x', 'g', 'L', 'K') and pending for the next entry.
  char meta_type_ = 0;
  std::string meta_;
  std::int64_t oversize_meta_ = 0;  // size of an over-limit extended header, reported with its entry
  std::unordered_map<std::string, std::string> pax_;     // from 'x', next entry only
  std::unordered_map<std::string, std::string> global_;  // from 'g', all following entries
  std::string long_name_;
  std::string long_link_;
  bool have_long_name_ = false;
  bool have_long_link_ = false;
};

// Receives the bytes of a produced tar stream.
using TarOutput = std::function<void(std::span<const std::byte>)>;

// One change of a layer diff, relative to the root given to write_changes.
struct TarChange {
  enum class Kind { kAdd, kModify, kDelete };
  Kind kind = Kind::kAdd;
  std::string path;  // relative, e.g. "etc/hosts"
};

// Produces a tar stream: ustar headers, with a PAX 'x' record in front for long names or links,
// large numbers, xattrs, and sub-second mtimes dropped (times are truncated to seconds).
class TarWriter {
 public:
  explicit TarWriter(TarOutput out) : out_(std::move(out)) {}
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Low level: a header, exactly header.size bytes of data, then end_entry().
  void write_header(const TarHeader& header);
  void write_data(std::span<const std::byte> data);
  void end_entry();
  // Writes the two zero blocks. No more entries afterwards.
  void close();

  // Adds the whole tree below root_fd (sorted, root itself not included) with names under prefix.
  void add_tree(int root_fd, std::string_view prefix = {});
  // Adds one object at rel (relative to root_fd, not followed if a symlink); directories are added
  // without their children. Files with several links become hardlinks to the first one written.
  void add_path(int root_fd, std::string_view rel);
  // Adds a ".wh.<name>" whiteout for a deleted path.
  void add_whiteout(std::string_view rel);
  // Adds and deletes as given, in order: kDelete becomes a whiteout, the rest add_path.
  void write_changes(int root_fd, std::span<const TarChange> changes);

  std::uint64_t bytes_written() const noexcept { return written_; }

 private:
  void emit(std::span<const std::byte> data);
  void add_tree_dir(int root_fd, const std::string& rel, std::string_view prefix);
  bool add_object(int root_fd, const std::string& rel, const std::string& name);  // true for a directory

  TarOutput out_;
  std::uint64_t written_ = 0;
  std::int64_t remaining_ = 0;
  std::int64_t padding_ = 0;
  bool in_entry_ = false;
  bool closed_ = false;
  std::string entry_name_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> inodes_;  // (dev, ino) -> first name
};

}  // namespace bocker::image
