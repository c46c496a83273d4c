// Docker's volume copy-up: an empty volume mounted over a directory of the image first gets
// that directory's content. The image side is resolved with openat2(RESOLVE_IN_ROOT) and every
// step goes through directory fds without following symlinks, so the image cannot make the
// copy read or write outside the rootfs and the volume.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/volume/mounts.hpp"

namespace bocker::volume {
namespace {

constexpr int kMaxDepth = 256;

void copy_meta(int fd, const struct stat& st, const std::string& where) {
  if (::fchown(fd, st.st_uid, st.st_gid) < 0) throw SystemError(errno, "chown", where);
  if (::fchmod(fd, st.st_mode & 07777) < 0) throw SystemError(errno, "chmod", where);
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ::futimens(fd, times);  // best effort
}

void copy_file(int from_dir, int to_dir, const char* name, const struct stat& st, const std::string& where) {
  Fd in(::openat(from_dir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
  if (!in) throw SystemError(errno, "open", where);
  Fd out(::openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) throw SystemError(errno, "create", where);
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SystemError(errno, "read", where);
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf + off, static_cast<size_t>(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        throw SystemError(errno, "write", where);
      }
      off += w;
    }
  }
  copy_meta(out.get(), st, where);
}

void copy_tree(int from, int to, const std::string& where, int depth) {
  if (depth > kMaxDepth) throw invalid("copy into volume: " + where + " is nested too deeply");
  int dup_fd = ::fcntl(from, F_DUPFD_CLOEXEC, 3);
  if (dup_fd < 0) throw SystemError(errno, "dup", where);
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    int e = errno;
    ::close(dup_fd);
    throw SystemError(e, "opendir", where);
  }
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{dir};
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = where + "/" + name;
    struct stat st {};
    if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) throw SystemError(errno, "stat", path);
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(to, name.c_str(), 0700) < 0) throw SystemError(errno, "mkdir", path);
      Fd sub_from(::openat(from, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_from) throw SystemError(errno, "open", path);
      Fd sub_to(::openat(to, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_to) throw SystemError(errno, "open", path);
      copy_tree(sub_from.get(), sub_to.get(), path, depth + 1);
      copy_meta(sub_to.get(), st, path);
    } else if (S_ISREG(st.st_mode)) {
      copy_file(from, to, name.c_str(), st, path);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlinkat(from, name.c_str(), target, sizeof target - 1);
      if (n < 0) throw SystemError(errno, "readlink", path);
      target[n] = '\0';
      if (::symlinkat(target, to, name.c_str()) < 0) throw SystemError(errno, "symlink", path);
      ::fchownat(to, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    } else {  // fifo, socket, device node
      if (::mknodat(to, name.c_str(), st.st_mode, st.st_rdev) < 0) throw SystemError(errno, "mknod", path);
      ::fchownat(to, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    }
  }
}

}  // namespace

bool copy_up(const std::string& rootfs, const std::string& destination, const std::string& volume_dir) {
  Fd vol(::open(volume_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!vol) throw SystemError(errno, "open volume", volume_dir);
  {
    int d = ::fcntl(vol.get(), F_DUPFD_CLOEXEC, 3);
    if (d < 0) throw SystemError(errno, "dup", volume_dir);
    DIR* dir = ::fdopendir(d);
    if (dir == nullptr) {
      ::close(d);
      throw SystemError(errno, "opendir", volume_dir);
    }
    bool empty = true;
    while (dirent* e = ::readdir(dir)) {
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") empty = false;
    }
    ::closedir(dir);
    if (!empty) return false;
  }
  Fd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SystemError(errno, "open container rootfs", rootfs);
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root.get(), destination.c_str(), &how, sizeof how);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;  // nothing in the image there
    throw SystemError(errno, "open", rootfs + destination);
  }
  Fd src(static_cast<int>(fd));
  struct stat st {};
  if (::fstat(src.get(), &st) < 0) throw SystemError(errno, "stat", rootfs + destination);
  copy_tree(src.get(), vol.get(), volume_dir, 0);
  copy_meta(vol.get(), st, volume_dir);
  return true;
}

}  // namespace bocker::volume
