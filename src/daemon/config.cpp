#include "bocker/daemon/config.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "bocker/net/cidr.hpp"
#include "bocker/net/network.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::daemon {

std::string usage() {
  return "Usage: bockerd [OPTIONS]\n"
         "\n"
         "The bocker engine: one process that supervises containers and serves the Docker Engine API.\n"
         "\n"
         "Options:\n"
         "  --root DIR            state directory (default /var/lib/bocker)\n"
         "  -H, --host ADDR       API socket: unix:///path or tcp://127.0.0.1:PORT (default unix:///run/bocker.sock)\n"
         "  --metrics-addr ADDR   Prometheus listener HOST:PORT, loopback by default (default 127.0.0.1:9323);\n"
         "                        an empty value turns it off\n"
         "  --workers N           worker threads for blocking work (default 2)\n"
         "  -s, --storage-driver NAME  btrfs or overlay2 (default: btrfs when the root is on btrfs, else overlay2)\n"
         "  --insecure-registry HOST[:PORT]  talk plain HTTP to this registry (repeatable; localhost and\n"
         "                        127.0.0.0/8 always are)\n"
         "  --max-concurrent-downloads N  layers downloaded in parallel per pull (default 4)\n"
         "  -b, --bridge NAME     bridge for containers' default network (default bridge0); none: no bridge\n"
         "  --bridge-subnet CIDR  the bridge's IPv4 subnet (default 10.201.0.0/16)\n"
         "  -v, --version         print the version and exit\n"
         "  -h, --help            print this help and exit\n";
}

Config parse_args(const std::vector<std::string>& args) {
  Config c;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    auto need = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= args.size()) throw invalid("bockerd: flag " + flag + " needs a value");
      return args[++i];
    };
    if (flag == "-h" || flag == "--help") {
      c.help = true;
    } else if (flag == "-v" || flag == "--version") {
      c.version = true;
    } else if (flag == "--root" || flag == "--data-root") {
      c.root = need();
      if (c.root.empty() || c.root[0] != '/') throw invalid("bockerd: --root must be an absolute path, got '" + c.root + "'");
      while (c.root.size() > 1 && c.root.back() == '/') c.root.pop_back();
    } else if (flag == "-H" || flag == "--host") {
      c.host = need();
      if (c.host.rfind("unix://", 0) != 0 && c.host.rfind("tcp://", 0) != 0) {
        throw invalid("bockerd: --host must be unix:///path or tcp://host:port, got '" + c.host + "'");
      }
      if (c.host.rfind("unix://", 0) == 0 && (c.host.size() <= 7 || c.host[7] != '/')) {
        throw invalid("bockerd: --host unix:// needs an absolute socket path, got '" + c.host + "'");
      }
    } else if (flag == "--metrics-addr") {
      c.metrics_addr = need();
      if (!c.metrics_addr.empty() && c.metrics_addr.rfind(':') == std::string::npos) {
        throw invalid("bockerd: --metrics-addr must be HOST:PORT, got '" + c.metrics_addr + "'");
      }
    } else if (flag == "-s" || flag == "--storage-driver") {
      c.storage_driver = need();
      if (c.storage_driver != "btrfs" && c.storage_driver != "overlay2" && c.storage_driver != "overlay") {
        throw invalid("bockerd: --storage-driver must be btrfs or overlay2, got '" + c.storage_driver + "'");
      }
    } else if (flag == "--insecure-registry") {
      c.insecure_registries.push_back(need());
    } else if (flag == "--max-concurrent-downloads") {
      std::string v = need();
      try {
        std::size_t used = 0;
        int n = std::stoi(v, &used);
        if (used != v.size() || n < 1 || n > 64) throw std::out_of_range("range");
        c.max_concurrent_downloads = static_cast<unsigned>(n);
      } catch (const std::logic_error&) {
        throw invalid("bockerd: --max-concurrent-downloads must be a number from 1 to 64, got '" + v + "'");
      }
    } else if (flag == "-b" || flag == "--bridge") {
      c.bridge = need();
      if (c.bridge != "none") {
        net::NetworkConfig nc;
        nc.bridge = c.bridge;
        try {
          nc.validate();
        } catch (const Error& e) {
          throw invalid("bockerd: --bridge: " + std::string(e.what()));
        }
      }
    } else if (flag == "--bridge-subnet") {
      c.bridge_subnet = need();
      try {
        if (!net::Cidr::parse(c.bridge_subnet).usable_for_bridge()) throw invalid("prefix must be at most /30");
      } catch (const Error& e) {
        throw invalid("bockerd: --bridge-subnet '" + c.bridge_subnet + "': " + e.what());
      }
    } else if (flag == "--nft-table") {  // hidden: tests keep away from the real table
      c.nft_table = need();
      net::NetworkConfig nc;
      nc.nft_table = c.nft_table;
      try {
        nc.validate();
      } catch (const Error& e) {
        throw invalid("bockerd: --nft-table: " + std::string(e.what()));
      }
    } else if (flag == "--workers") {
      std::string v = need();
      try {
        std::size_t used = 0;
        int n = std::stoi(v, &used);
        if (used != v.size() || n < 1 || n > 64) throw std::out_of_range("range");
        c.workers = static_cast<unsigned>(n);
      } catch (const std::logic_error&) {
        throw invalid("bockerd: --workers must be a number from 1 to 64, got '" + v + "'");
      }
    } else {
      throw invalid("bockerd: unknown flag '" + args[i] + "'\nSee 'bockerd --help'.");
    }
  }
  return c;
}

RootLock RootLock::acquire(const std::string& root) {
  make_dirs(root, 0711);
  std::string path = root + "/bockerd.pid";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) throw SystemError(errno, "open lock file", path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      std::string other;
      char buf[32] = {};
      ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
      if (n > 0) other = std::string(buf, static_cast<std::size_t>(n));
      while (!other.empty() && (other.back() == '\n' || other.back() == ' ')) other.pop_back();
      throw conflict("bockerd: root " + root + " is in use by another bockerd" +
                     (other.empty() ? std::string() : " (pid " + other + ")") + "; lock " + path);
    }
    throw SystemError(err, "flock", path);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0) throw SystemError(errno, "truncate", path);
  if (::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    throw SystemError(errno, "write", path);
  }
  return RootLock(std::move(fd), path);
}

}  // namespace bocker::daemon
