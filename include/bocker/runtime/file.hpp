// Blocking file helpers (call them from a worker through offload(), or at startup).
#pragma once

#include <string>
#include <string_view>

namespace bocker {

// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename over
// `path`, fsync the directory. A crash leaves either the old or the new content.
// durable=false skips both fsyncs: still atomic when only the process dies (the page cache
// survives), but after a power loss the file may be the old one, the new one or empty — for
// state that is rebuilt at start (IPAM) or worthless after a reboot (a --rm container's record).
void write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644,
                       bool durable = true);

// The whole file; throws SystemError naming the path.
std::string read_file(const std::string& path);

// mkdir -p with `mode` for directories it creates.
void make_dirs(const std::string& path, unsigned mode = 0755);

}  // namespace bocker
