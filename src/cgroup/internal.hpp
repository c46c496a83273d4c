// Private helpers shared by the cgroup v1 and v2 implementations.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::cgroup::detail {

// Writes `value` to a cgroup control file. Throws SystemError
// "write \"<value>\" to <path>: <strerror>".
void write_value(const std::string& path, std::string_view value);
// Returns -errno instead of throwing (0 on success).
int try_write_value(const std::string& path, std::string_view value) noexcept;
// The file's content, or nullopt when it does not exist (ENOENT). Other errors throw.
std::optional<std::string> read_optional(const std::string& path);
bool exists(const std::string& path) noexcept;
bool is_dir(const std::string& path) noexcept;
// The pids listed in a cgroup.procs file (empty when the file is gone).
std::vector<pid_t> read_pids(const std::string& procs_path);
// Names of the subdirectories of `dir` (sorted; empty when `dir` does not exist).
std::vector<std::string> subdirs(const std::string& dir);
// mkdir that accepts an existing directory; returns true when it created it.
bool make_dir(const std::string& path);
// rmdir retrying EBUSY until `deadline`; a missing directory is fine. Throws SystemError.
void remove_dir(const std::string& path, std::chrono::steady_clock::time_point deadline);
// Throws Error(kInvalid) unless `id` is a plain name ([A-Za-z0-9_.-], not "." or "..", <= 128 chars).
void check_name(std::string_view what, const std::string& id);
std::string_view trim(std::string_view s);
std::string basename(const std::string& path);

}  // namespace bocker::cgroup::detail
