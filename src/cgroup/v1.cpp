// cgroup v1: one directory per hierarchy (<hierarchy>/<parent>/<id>), co-mounted controllers share one.
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <set>
#include <thread>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "internal.hpp"

namespace bocker::cgroup {
namespace {

using namespace std::chrono_literals;
using detail::read_optional;
using detail::write_value;

// The controllers a container joins. Others (net_cls, perf_event, ...) are left alone.
const std::set<std::string>& joined_controllers() {
  static const std::set<std::string> s{"cpu",     "cpuacct", "cpuset", "memory",
                                       "devices", "freezer", "blkio",  "pids"};
  return s;
}

// A new cpuset cgroup starts with empty cpus/mems and takes no tasks until they are copied from the parent.
void init_cpuset(const std::string& dir, const std::string& parent_dir) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    auto mine = read_optional(dir + "/" + file);
    if (!mine || !detail::trim(*mine).empty()) continue;
    auto theirs = read_optional(parent_dir + "/" + file);
    if (!theirs) continue;
    auto value = detail::trim(*theirs);
    if (!value.empty()) write_value(dir + "/" + file, value);
  }
}

// The calling thread's cgroup per v1 controller, from /proc/thread-self/cgroup
// ("4:cpu,cpuacct:/user.slice" -> cpu and cpuacct -> "/user.slice").
std::map<std::string, std::string> thread_cgroups() {
  std::map<std::string, std::string> out;
  auto text = read_optional("/proc/thread-self/cgroup");
  if (!text) return out;
  std::size_t pos = 0;
  while (pos < text->size()) {
    std::size_t nl = text->find('\n', pos);
    if (nl == std::string::npos) nl = text->size();
    std::string line = text->substr(pos, nl - pos);
    pos = nl + 1;
    std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::size_t s = 0;
    while (s <= ctls.size()) {
      std::size_t c = ctls.find(',', s);
      if (c == std::string::npos) c = ctls.size();
      if (c > s) out[ctls.substr(s, c - s)] = path;
      s = c + 1;
    }
  }
  return out;
}

Fd open_tasks(const std::string& dir) {
  std::string path = dir + "/tasks";
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return fd;
  struct statfs sf {};
  if (::fstatfs(fd.get(), &sf) != 0 || sf.f_type != CGROUP_SUPER_MAGIC) fd.reset();
  return fd;
}

class V1ThreadPlacement final : public ThreadPlacement {
 public:
  // `back`: the `tasks` files of the thread's own cgroups, opened before it moves.
  explicit V1ThreadPlacement(std::vector<std::pair<std::string, Fd>> back) : back_(std::move(back)) {}
  ~V1ThreadPlacement() override {
    try {
      restore();
    } catch (...) {  // best effort; restore() was called explicitly on the normal path
    }
  }
  void restore() override {
    std::string failed;
    int err = 0;
    for (auto& [path, fd] : back_) {
      if (!fd) continue;
      if (::write(fd.get(), "0", 1) != 1) {
        err = errno;
        failed = path;
        continue;
      }
      fd.reset();
    }
    if (err != 0) throw SystemError(err, "move the daemon's thread back into", failed);
  }

 private:
  std::vector<std::pair<std::string, Fd>> back_;
};

class V1Cgroup final : public Cgroup {
 public:
  // `dirs`: controller -> this cgroup's directory in that controller's hierarchy.
  // `roots`: controller -> hierarchy root.
  V1Cgroup(std::string rel, std::map<std::string, std::string> dirs, std::map<std::string, std::string> roots)
      : rel_(std::move(rel)), dirs_(std::move(dirs)), roots_(std::move(roots)) {
    for (const auto& [ctl, dir] : dirs_) unique_.insert(dir);
    for (const char* ctl : {"pids", "memory", "cpu", "freezer"}) {
      if (auto d = dir_of(ctl)) {
        primary_ = *d;
        break;
      }
    }
    if (primary_.empty() && !unique_.empty()) primary_ = *unique_.begin();
  }

  void apply(const Limits& l) override {
    validate(l);
    if (l.memory_bytes > 0 || l.memory_swap != 0) apply_memory(l);
    if (l.cpu_shares > 0) {
      write(need("cpu", "cpu shares"), "cpu.shares",
            std::to_string(std::clamp(l.cpu_shares, kMinCpuShares, kMaxCpuShares)));
    }
    if (l.cpu_quota_us != 0 || l.cpu_period_us != 0) {
      const std::string& dir = need("cpu", "a CPU quota");
      std::int64_t period = l.cpu_period_us != 0 ? l.cpu_period_us : kDefaultCpuPeriodUs;
      write(dir, "cpu.cfs_period_us", std::to_string(period));
      if (l.cpu_quota_us != 0) write(dir, "cpu.cfs_quota_us", std::to_string(l.cpu_quota_us));
    }
    if (l.pids_limit != 0) {
      write(need("pids", "a pids limit"), "pids.max",
            l.pids_limit < 0 ? "max" : std::to_string(l.pids_limit));
      pids_max_ = l.pids_limit;
    }
  }

  void add_process(pid_t pid) override {
    for (const auto& dir : unique_) write_value(dir + "/cgroup.procs", std::to_string(pid));
  }

  int dir_fd_for_clone() const override { return -1; }

  std::unique_ptr<ThreadPlacement> place_calling_thread() override {
    if (pids_max_ > 0 && pids_max_ < 2) return nullptr;
    std::map<std::string, std::string> mine = thread_cgroups();
    // Per hierarchy: the container's `tasks` and the thread's own, both opened first.
    std::vector<std::pair<std::string, Fd>> into, back;
    std::set<std::string> seen;
    for (const auto& [ctl, dir] : dirs_) {
      if (!seen.insert(dir).second) continue;
      auto root = roots_.find(ctl);
      auto own = mine.find(ctl);
      if (root == roots_.end() || own == mine.end()) return nullptr;
      std::string own_dir = root->second + (own->second == "/" ? "" : own->second);
      Fd to = open_tasks(dir), from = open_tasks(own_dir);
      if (!to || !from) return nullptr;
      into.emplace_back(dir + "/tasks", std::move(to));
      back.emplace_back(own_dir + "/tasks", std::move(from));
    }
    if (into.empty()) return nullptr;
    auto guard = std::make_unique<V1ThreadPlacement>(std::move(back));
    for (auto& [path, fd] : into) {
      if (::write(fd.get(), "0", 1) != 1) throw SystemError(errno, "move the calling thread into", path);
    }
    return guard;
  }

  std::vector<std::string> stat_files() const override {
    std::vector<std::string> out;
    auto add = [&](const char* ctl, std::initializer_list<const char*> files) {
      if (auto d = dir_of(ctl)) {
        for (const char* f : files) out.push_back(*d + "/" + f);
      }
    };
    add("cpuacct", {"cpuacct.usage", "cpuacct.stat"});
    add("cpu", {"cpu.stat"});
    add("memory", {"memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat", "memory.oom_control"});
    add("pids", {"pids.current", "pids.max"});
    add("blkio", {"blkio.throttle.io_service_bytes"});
    return out;
  }

  Stats parse_stats(const std::map<std::string, std::string>& contents) const override {
    std::map<std::string, std::string> by_name;
    for (const auto& [path, text] : contents) by_name[detail::basename(path)] = text;
    return parse_stats_v1(by_name);
  }

  Stats stats() const override {
    std::map<std::string, std::string> contents;
    for (const auto& f : stat_files()) {
      if (auto text = read_optional(f)) contents.emplace(f, std::move(*text));
    }
    return parse_stats(contents);
  }

  std::vector<pid_t> pids() const override { return detail::read_pids(primary_ + "/cgroup.procs"); }

  void set_frozen(bool on) override {
    auto d = dir_of("freezer");
    if (!d) throw Error(Error::Kind::kUnsupported, "cgroup " + rel_ + ": no freezer hierarchy on this host");
    std::string state = *d + "/freezer.state";
    write_value(state, on ? "FROZEN" : "THAWED");
    if (!on) return;
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!frozen()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        detail::try_write_value(state, "THAWED");
        throw Error(Error::Kind::kTimeout, "cgroup " + state + " still FREEZING after 2s; thawed again");
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  bool frozen() const override {
    auto d = dir_of("freezer");
    auto s = d ? read_optional(*d + "/freezer.state") : std::nullopt;
    return s && detail::trim(*s) == "FROZEN";
  }

  void kill_all(int sig) override {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      // Freezing first stops the processes from forking while they are being signalled.
      bool frozen = freeze(true);
      std::vector<pid_t> procs = pids();
      for (pid_t p : procs) {
        if (::kill(p, sig) != 0 && errno != ESRCH) {
          int err = errno;
          if (frozen) freeze(false);
          throw SystemError(err, "kill -" + std::to_string(sig) + " " + std::to_string(p) + " in cgroup",
                            rel_);
        }
      }
      if (frozen) freeze(false);
      if (sig != SIGKILL) return;
      if (procs.empty() && pids().empty()) return;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw Error(Error::Kind::kTimeout, "cgroup " + primary_ + " still has " +
                                               std::to_string(pids().size()) + " processes 5s after SIGKILL");
      }
      std::this_thread::sleep_for(10ms);
    }
  }

  void remove() override {
    // One deadline for all hierarchies: a busy cgroup is busy in every one of them.
    auto deadline = std::chrono::steady_clock::now() + 1s;
    std::optional<SystemError> first;
    for (const auto& dir : unique_) {
      try {
        detail::remove_dir(dir, deadline);
      } catch (const SystemError& e) {
        if (!first) first = e;
      }
    }
    if (first) throw *first;
  }

  std::string path() const override { return rel_; }

  std::vector<std::string> dirs() const override { return {unique_.begin(), unique_.end()}; }

 private:
  std::optional<std::string> dir_of(const std::string& ctl) const {
    auto it = dirs_.find(ctl);
    if (it == dirs_.end()) return std::nullopt;
    return it->second;
  }

  const std::string& need(const std::string& ctl, const std::string& for_what) const {
    auto it = dirs_.find(ctl);
    if (it == dirs_.end()) {
      throw Error(Error::Kind::kUnsupported,
                  "cgroup v1 " + ctl + " controller is not mounted; cannot set " + for_what + " for " + rel_);
    }
    return it->second;
  }

  static void write(const std::string& dir, const std::string& file, const std::string& value) {
    write_value(dir + "/" + file, value);
  }

  void apply_memory(const Limits& l) {
    const std::string& dir = need("memory", "a memory limit");
    std::string memsw_file = dir + "/memory.memsw.limit_in_bytes";
    std::optional<std::int64_t> memsw;  // memory + swap to write, when the kernel accounts swap
    if (l.memory_swap == -1) {
      memsw = -1;
    } else if (l.memory_swap > 0) {
      memsw = l.memory_swap;
    } else if (l.memory_bytes > 0) {
      memsw = l.memory_bytes;
    }
    if (memsw && !detail::exists(memsw_file)) memsw.reset();  // no swap accounting: docker ignores it too
    // The kernel keeps memory <= memory+swap at every step: raise memsw first when the new
    // memory limit is above the current memsw limit.
    bool memsw_first = false;
    if (memsw && l.memory_bytes > 0) {
      auto cur = read_optional(memsw_file);
      std::int64_t current = 0;
      if (cur) {
        auto text = detail::trim(*cur);
        std::from_chars(text.data(), text.data() + text.size(), current);
      }
      memsw_first = current < l.memory_bytes || *memsw == -1;
    }
    if (memsw && memsw_first) write(dir, "memory.memsw.limit_in_bytes", std::to_string(*memsw));
    if (l.memory_bytes > 0) write(dir, "memory.limit_in_bytes", std::to_string(l.memory_bytes));
    if (memsw && !memsw_first) write(dir, "memory.memsw.limit_in_bytes", std::to_string(*memsw));
  }

  bool freeze(bool on) {
    auto d = dir_of("freezer");
    if (!d) return false;
    std::string state = *d + "/freezer.state";
    if (detail::try_write_value(state, on ? "FROZEN" : "THAWED") != 0) return false;
    if (!on) return true;
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = read_optional(state);
      if (!s || detail::trim(*s) == "FROZEN") return true;
      std::this_thread::sleep_for(1ms);
    }
    return true;  // still FREEZING: signal anyway, the caller thaws
  }

  std::string rel_;
  std::map<std::string, std::string> dirs_;
  std::set<std::string> unique_;
  std::map<std::string, std::string> roots_;
  std::string primary_;
  std::int64_t pids_max_ = 0;  // as applied; 0 = not set
};

class V1Manager final : public Manager {
 public:
  V1Manager(std::map<std::string, std::string> roots, std::string parent)
      : roots_(std::move(roots)), parent_(std::move(parent)) {
    detail::check_name("parent", parent_);
    for (auto it = roots_.begin(); it != roots_.end();) {
      it = joined_controllers().count(it->first) != 0 ? std::next(it) : roots_.erase(it);
    }
    if (roots_.empty()) throw Error(Error::Kind::kUnsupported, "no cgroup v1 controller hierarchies given");
  }

  int version() const override { return 1; }

  std::unique_ptr<Cgroup> create(const std::string& id) override {
    detail::check_name("id", id);
    std::vector<std::string> created;  // removed again if a later step fails
    try {
      std::set<std::string> done;
      for (const auto& [ctl, root] : roots_) {
        if (!done.insert(root).second) continue;
        std::string parent = root + "/" + parent_;
        std::string dir = parent + "/" + id;
        for (int attempt = 0;; ++attempt) {
          if (detail::make_dir(parent)) created.push_back(parent);
          try {
            if (detail::make_dir(dir)) created.push_back(dir);
            break;
          } catch (const SystemError& e) {
            // Someone removed the empty parent between the two mkdirs (a sweep); make it again.
            if (e.code().value() != ENOENT || attempt == 2) throw;
          }
        }
        if (has_cpuset(root)) {
          init_cpuset(parent, root);
          init_cpuset(dir, parent);
        }
      }
    } catch (...) {
      for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
      throw;
    }
    return make(id);
  }

  std::unique_ptr<Cgroup> open(const std::string& id) override {
    detail::check_name("id", id);
    auto cg = make(id);
    if (!cg->dirs().empty()) return cg;  // make() keeps only the directories that exist
    throw not_found("cgroup " + id + " not found under " + parent_ + "/ in any cgroup v1 hierarchy");
  }

  std::vector<std::string> list() override {
    std::set<std::string> ids;
    for (const auto& [ctl, root] : roots_) {
      for (auto& name : detail::subdirs(root + "/" + parent_)) ids.insert(std::move(name));
    }
    return {ids.begin(), ids.end()};
  }

 private:
  bool has_cpuset(const std::string& root) const {
    auto it = roots_.find("cpuset");
    return it != roots_.end() && it->second == root;
  }

  // Only the hierarchies where the directory exists (a hierarchy mounted after creation is skipped).
  std::unique_ptr<Cgroup> make(const std::string& id) const {
    std::map<std::string, std::string> dirs;
    for (const auto& [ctl, root] : roots_) {
      std::string dir = root + "/" + parent_ + "/" + id;
      if (detail::is_dir(dir)) dirs.emplace(ctl, dir);
    }
    return std::make_unique<V1Cgroup>("/" + parent_ + "/" + id, std::move(dirs), roots_);
  }

  std::map<std::string, std::string> roots_;
  std::string parent_;
};

}  // namespace

std::unique_ptr<Manager> Manager::v1_at(std::map<std::string, std::string> controller_dirs,
                                        std::string parent_name) {
  return std::make_unique<V1Manager>(std::move(controller_dirs), std::move(parent_name));
}

}  // namespace bocker::cgroup
