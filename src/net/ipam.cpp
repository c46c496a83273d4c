#include "bocker/net/ipam.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::net {

namespace {
constexpr std::size_t kMaxOwnerLen = 256;

bool file_exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  throw SystemError(errno, "stat", path);
}

void check_owner(const std::string& owner) {
  if (owner.empty()) throw invalid("IPAM owner id is empty");
  if (owner.size() > kMaxOwnerLen) throw invalid("IPAM owner id longer than 256 characters");
  for (unsigned char c : owner) {
    if (c < 0x20 || c == 0x7f) throw invalid("IPAM owner id contains a control character");
  }
}
}  // namespace

Ipam::Ipam(std::string dir, Cidr subnet) : dir_(std::move(dir)), file_(dir_ + "/ipam.json"), subnet_(subnet) {
  if (!subnet_.usable_for_bridge()) {
    throw invalid("subnet " + subnet_.to_string() +
                  " has no room for a gateway and containers (prefix > 30)");
  }
  next_ = subnet_.gateway().value + 1;
  make_dirs(dir_, 0700);
  if (file_exists(file_)) load();
}

void Ipam::load() {
  std::string text = read_file(file_);
  // Written without fsync (save()): after a power loss it may be empty or zero-filled. Then no
  // container runs any more, and an empty allocator is the truth.
  if (text.find_first_not_of('\0') == std::string::npos) return;
  auto corrupt = [&](const std::string& why) { return Error("IPAM state " + file_ + " is corrupt: " + why); };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw corrupt(e.what());
  }
  if (!j.is_object() || !j.contains("subnet") || !j["subnet"].is_string()) throw corrupt("no \"subnet\"");
  Cidr stored;
  try {
    stored = Cidr::parse(j["subnet"].get<std::string>());
  } catch (const Error& e) {
    throw corrupt(e.what());
  }
  if (stored != subnet_) {
    throw conflict("IPAM state " + file_ + " is for subnet " + stored.to_string() + ", not " +
                   subnet_.to_string() + "; remove the containers of that network first");
  }
  if (j.contains("allocations")) {
    const auto& a = j["allocations"];
    if (!a.is_object()) throw corrupt("\"allocations\" is not an object");
    for (const auto& [owner, v] : a.items()) {
      if (!v.is_string()) throw corrupt("address of " + owner + " is not a string");
      Ipv4 ip;
      try {
        ip = Ipv4::parse(v.get<std::string>());
      } catch (const Error& e) {
        throw corrupt(e.what());
      }
      if (!subnet_.contains(ip) || ip == subnet_.network || ip == subnet_.gateway() ||
          ip == subnet_.broadcast()) {
        throw corrupt("address " + ip.to_string() + " of " + owner + " is not a host address of " +
                      subnet_.to_string());
      }
      if (!used_.insert(ip).second) throw corrupt("address " + ip.to_string() + " is allocated twice");
      by_owner_.emplace(owner, ip);
    }
  }
  if (j.contains("next") && j["next"].is_string()) {
    try {
      Ipv4 n = Ipv4::parse(j["next"].get<std::string>());
      if (subnet_.contains(n)) next_ = n.value;
    } catch (const Error&) {
      // a bad cursor only changes where the next search starts
    }
  }
}

void Ipam::save() const {
  nlohmann::json j;
  j["subnet"] = subnet_.to_string();
  j["next"] = Ipv4{next_}.to_string();
  nlohmann::json a = nlohmann::json::object();
  for (const auto& [owner, ip] : by_owner_) a[owner] = ip.to_string();
  j["allocations"] = std::move(a);
  // Atomic but not fsynced: every allocation belongs to a running container, and the sweep at
  // start releases those of containers that are not running, so after a power loss (nothing
  // runs) any content, even an empty file (load()), leads to the right state; a daemon crash
  // keeps the page cache. Saves two fsyncs per container start and per removal.
  write_file_atomic(file_, j.dump(1) + "\n", 0600, /*durable=*/false);
}

Ipv4 Ipam::allocate(const std::string& owner_id) {
  check_owner(owner_id);
  std::lock_guard lock(mu_);
  if (auto it = by_owner_.find(owner_id); it != by_owner_.end()) return it->second;
  const std::uint32_t first = subnet_.gateway().value + 1;
  const std::uint32_t last = subnet_.broadcast().value - 1;  // inclusive
  const std::uint64_t span = static_cast<std::uint64_t>(last) - first + 1;
  std::uint32_t cand = (next_ < first || next_ > last) ? first : next_;
  for (std::uint64_t i = 0; i < span; ++i) {
    if (!used_.contains(Ipv4{cand})) {
      Ipv4 ip{cand};
      const std::uint32_t old_next = next_;
      next_ = cand == last ? first : cand + 1;
      by_owner_.emplace(owner_id, ip);
      used_.insert(ip);
      try {
        save();
      } catch (...) {
        by_owner_.erase(owner_id);
        used_.erase(ip);
        next_ = old_next;
        throw;
      }
      return ip;
    }
    cand = cand == last ? first : cand + 1;
  }
  throw conflict("no free address in subnet " + subnet_.to_string() + " (" + std::to_string(used_.size()) +
                 " addresses in use)");
}

bool Ipam::release(const std::string& owner_id) {
  std::lock_guard lock(mu_);
  auto it = by_owner_.find(owner_id);
  if (it == by_owner_.end()) return false;
  Ipv4 ip = it->second;
  by_owner_.erase(it);
  used_.erase(ip);
  try {
    save();
  } catch (...) {
    by_owner_.emplace(owner_id, ip);
    used_.insert(ip);
    throw;
  }
  return true;
}

std::optional<Ipv4> Ipam::lookup(const std::string& owner_id) const {
  std::lock_guard lock(mu_);
  auto it = by_owner_.find(owner_id);
  if (it == by_owner_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, Ipv4> Ipam::owners() const {
  std::lock_guard lock(mu_);
  return by_owner_;
}

}  // namespace bocker::net
