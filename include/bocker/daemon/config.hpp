// bockerd's command line and its root directory lock.
#pragma once

#include <string>
#include <vector>

#include "bocker/runtime/fd.hpp"

namespace bocker::daemon {

struct Config {
  std::string root = "/var/lib/bocker";
  std::string host = "unix:///run/bocker.sock";
  std::string metrics_addr = "127.0.0.1:9323";  // empty: no metrics listener
  unsigned workers = 2;
  std::string storage_driver;  // "" = btrfs when the root is on btrfs, else overlay2
  std::vector<std::string> insecure_registries;
  unsigned max_concurrent_downloads = 4;
  // Bridge network: interface name ("none": no bridge, default-mode containers get an empty
  // netns), its subnet, and the nftables table (family ip) it owns ("" = derived from the bridge:
  // "bocker" for bridge0, "bocker_<bridge>" otherwise).
  std::string bridge = "bridge0";
  std::string bridge_subnet = "10.201.0.0/16";
  std::string nft_table;
  bool help = false;
  bool version = false;
};

// Parses bockerd's arguments (argv[0] excluded). Throws bocker::Error(kInvalid) naming the
// bad flag or value.
Config parse_args(const std::vector<std::string>& args);
std::string usage();

// Holds <root>/bockerd.pid locked (flock) with our pid in it, so two daemons never share a
// root. The lock dies with the process, so a crashed daemon never blocks the next one.
class RootLock {
 public:
  // Creates root if missing. Throws bocker::Error(kConflict) naming the root and the other
  // daemon's pid when the root is taken.
  static RootLock acquire(const std::string& root);
  const std::string& path() const noexcept { return path_; }

 private:
  RootLock(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
};

}  // namespace bocker::daemon
