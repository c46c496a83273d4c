// A persistent IPv4 address allocator for one bridge subnet.
// State: <dir>/ipam.json, rewritten atomically on every change, so a new Ipam on the same
// directory (after a restart or crash) sees the same allocations. Blocking file I/O: call it
// from a worker (offload) or at startup. Thread-safe within one process.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "bocker/net/cidr.hpp"

namespace bocker::net {

class Ipam {
 public:
  // Loads <dir>/ipam.json when it exists (creating `dir` otherwise). Throws invalid() for a
  // subnet with no room for hosts (prefix > 30), conflict() when the state was written for a
  // different subnet, and Error naming the file when it is corrupt.
  Ipam(std::string dir, Cidr subnet);
  Ipam(const Ipam&) = delete;
  Ipam& operator=(const Ipam&) = delete;

  // The owner's address: the one it already has, or a new free host address (never the network,
  // gateway or broadcast address), persisted before it is returned. Throws conflict() naming the
  // subnet when no address is free, invalid() for an empty or over-long owner id.
  Ipv4 allocate(const std::string& owner_id);
  // Frees the owner's address; false when it had none.
  bool release(const std::string& owner_id);
  std::optional<Ipv4> lookup(const std::string& owner_id) const;
  // owner id -> address.
  std::map<std::string, Ipv4> owners() const;

  const Cidr& subnet() const noexcept { return subnet_; }
  const std::string& state_file() const noexcept { return file_; }

 private:
  void load();
  void save() const;

  std::string dir_;
  std::string file_;
  Cidr subnet_;
  mutable std::mutex mu_;
  std::map<std::string, Ipv4> by_owner_;
  std::set<Ipv4> used_;
  std::uint32_t next_ = 0;  // next-fit cursor (host byte order), so a freed address is not reused at once
};

}  // namespace bocker::net
