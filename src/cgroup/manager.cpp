// Picks the cgroup implementation for this machine.
#include <linux/magic.h>
#include <sys/statfs.h>

#include <sstream>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "internal.hpp"

namespace bocker::cgroup {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

// controller -> mount point of the first cgroup (v1) mount carrying it.
std::map<std::string, std::string> v1_hierarchies(const std::string& mountinfo) {
  std::map<std::string, std::string> out;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount_point options [optional...] - fstype source super_options
    std::istringstream f(line);
    std::vector<std::string> fields;
    std::string w;
    while (f >> w) fields.push_back(w);
    std::size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash < 5 || dash + 3 >= fields.size() || fields[dash + 1] != "cgroup") continue;
    std::string mount_point = unescape(fields[4]);
    std::istringstream opts(fields[dash + 3]);
    std::string opt;
    while (std::getline(opts, opt, ',')) {
      static const char* const kOptions[] = {"rw",
                                             "ro",
                                             "noprefix",
                                             "xattr",
                                             "clone_children",
                                             "cpuset_v2_mode",
                                             "favordynmods",
                                             "memory_localevents",
                                             "memory_recursiveprot"};
      bool option = opt.find('=') != std::string::npos;
      for (const char* o : kOptions) option = option || opt == o;
      if (option) continue;
      out.emplace(opt, mount_point);
    }
  }
  return out;
}

std::unique_ptr<Manager> Manager::detect(std::string parent_name) {
  struct statfs st {};
  if (::statfs(kCgroupRoot, &st) != 0) throw SystemError(errno, "statfs", kCgroupRoot);
  if (st.f_type == CGROUP2_SUPER_MAGIC) return v2_at(kCgroupRoot, std::move(parent_name));
  auto hierarchies = v1_hierarchies(read_file("/proc/self/mountinfo"));
  if (hierarchies.empty()) {
    throw Error(
        Error::Kind::kUnsupported,
        std::string(kCgroupRoot) + " is not cgroup2 and /proc/self/mountinfo lists no cgroup v1 hierarchy");
  }
  return v1_at(std::move(hierarchies), std::move(parent_name));
}

}  // namespace bocker::cgroup
