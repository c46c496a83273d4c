// Errors that say what failed, on which object, and why.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace bocker {

// A failed system call: "op object: strerror(errno)". `code()` keeps the errno.
class SystemError : public std::system_error {
 public:
  SystemError(int err, std::string_view op, std::string_view object)
      : std::system_error(err, std::generic_category(), compose(op, object)) {}

 private:
  static std::string compose(std::string_view op, std::string_view object) {
    std::string s(op);
    if (!object.empty()) {
      s += ' ';
      s += object;
    }
    return s;
  }
};

// A failure that is not an errno: bad input, protocol violations, missing objects.
// `kind` lets the API layer map it onto an HTTP status without string matching.
class Error : public std::runtime_error {
 public:
  enum class Kind { kInvalid, kNotFound, kConflict, kInternal, kTimeout, kCancelled, kUnsupported };
  Error(Kind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}
  explicit Error(const std::string& msg) : Error(Kind::kInternal, msg) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

inline Error invalid(const std::string& msg) { return Error(Error::Kind::kInvalid, msg); }
inline Error not_found(const std::string& msg) { return Error(Error::Kind::kNotFound, msg); }
inline Error conflict(const std::string& msg) { return Error(Error::Kind::kConflict, msg); }

// Throws SystemError(errno) for a -1 return; passes any other value through.
inline long check_sys(long rc, std::string_view op, std::string_view object = {}) {
  if (rc < 0) throw SystemError(errno, op, object);
  return rc;
}

// Throws SystemError(-res) for a negative io_uring-style result; passes a result >= 0 through.
inline int check_res(int res, std::string_view op, std::string_view object = {}) {
  if (res < 0) throw SystemError(-res, op, object);
  return res;
}

inline std::string errno_text(int err) { return std::strerror(err); }

}  // namespace bocker
