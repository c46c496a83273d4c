// Capability sets with raw system calls (runs in the child after clone3: async-signal-safe).
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "spawn_internal.hpp"

namespace bocker::container::detail {

int apply_capabilities(unsigned long long keep, const char** step) noexcept {
  // Bounding set: drop everything outside `keep`. Capabilities past the kernel's last one
  // give EINVAL, which ends the walk.
  for (int cap = 0; cap < 64; ++cap) {
    if (keep & (1ULL << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      *step = "drop bounding capability";
      return -errno;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    *step = "clear ambient capabilities";
    return -errno;
  }
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = static_cast<__u32>(keep & 0xffffffffULL);
  data[1].effective = data[1].permitted = static_cast<__u32>(keep >> 32);
  if (::syscall(SYS_capset, &hdr, data) < 0) {
    *step = "capset";
    return -errno;
  }
  return 0;
}

}  // namespace bocker::container::detail
