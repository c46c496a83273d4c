// cgroup v2: one directory, <root>/<parent>/<id>, in the unified hierarchy.
#include <fcntl.h>
#include <signal.h>

#include <cerrno>
#include <set>
#include <sstream>
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

const char* const kWanted[] = {"cpu", "memory", "pids", "io"};

std::set<std::string> words(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (!w.empty() && (w[0] == '+' || w[0] == '-')) w.erase(0, 1);
    out.insert(w);
  }
  return out;
}

// Enables the wanted controllers that `dir` offers for its children.
void enable_controllers(const std::string& dir) {
  std::string controllers_file = dir + "/cgroup.controllers";
  auto offered = read_optional(controllers_file);
  if (!offered) throw SystemError(ENOENT, "read", controllers_file);
  std::string subtree_file = dir + "/cgroup.subtree_control";
  auto enabled_text = read_optional(subtree_file);
  if (!enabled_text) throw SystemError(ENOENT, "read", subtree_file);
  std::set<std::string> have = words(*offered);
  std::set<std::string> enabled = words(*enabled_text);
  std::string add;
  for (const char* c : kWanted) {
    if (have.count(c) == 0 || enabled.count(c) != 0) continue;
    if (!add.empty()) add += ' ';
    add += '+';
    add += c;
  }
  if (!add.empty()) write_value(subtree_file, add);
}

class V2Cgroup final : public Cgroup {
 public:
  V2Cgroup(std::string rel, std::string dir) : rel_(std::move(rel)), dir_(std::move(dir)) {
    fd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_) throw SystemError(errno, "open cgroup directory", dir_);
  }

  void apply(const Limits& l) override {
    validate(l);
    if (l.memory_bytes > 0) write("memory.max", std::to_string(l.memory_bytes));
    // memory.swap.max counts swap alone (v1 memsw counts memory + swap).
    std::string swap_file = dir_ + "/memory.swap.max";
    if (detail::exists(swap_file)) {
      if (l.memory_swap == -1) {
        write("memory.swap.max", "max");
      } else if (l.memory_swap > 0) {
        write("memory.swap.max", std::to_string(l.memory_swap - l.memory_bytes));
      } else if (l.memory_bytes > 0) {
        write("memory.swap.max", "0");
      }
    }
    if (l.cpu_shares > 0) write("cpu.weight", std::to_string(shares_to_weight(l.cpu_shares)));
    if (l.cpu_quota_us != 0 || l.cpu_period_us != 0) {
      std::int64_t period = l.cpu_period_us != 0 ? l.cpu_period_us : kDefaultCpuPeriodUs;
      std::string quota = l.cpu_quota_us > 0 ? std::to_string(l.cpu_quota_us) : "max";
      write("cpu.max", quota + " " + std::to_string(period));
    }
    if (l.pids_limit != 0) write("pids.max", l.pids_limit < 0 ? "max" : std::to_string(l.pids_limit));
  }

  void add_process(pid_t pid) override { write("cgroup.procs", std::to_string(pid)); }

  int dir_fd_for_clone() const override { return fd_.get(); }

  std::vector<std::string> stat_files() const override {
    std::vector<std::string> out;
    for (const char* f : {"cpu.stat", "memory.current", "memory.max", "memory.stat", "memory.events",
                          "pids.current", "pids.max", "io.stat"}) {
      out.push_back(dir_ + "/" + f);
    }
    return out;
  }

  Stats parse_stats(const std::map<std::string, std::string>& contents) const override {
    std::map<std::string, std::string> by_name;
    for (const auto& [path, text] : contents) by_name[detail::basename(path)] = text;
    return parse_stats_v2(by_name);
  }

  Stats stats() const override {
    std::map<std::string, std::string> contents;
    for (const auto& f : stat_files()) {
      if (auto text = read_optional(f)) contents.emplace(f, std::move(*text));
    }
    return parse_stats(contents);
  }

  std::vector<pid_t> pids() const override { return detail::read_pids(dir_ + "/cgroup.procs"); }

  void set_frozen(bool on) override {
    write("cgroup.freeze", on ? "1" : "0");
    if (!on) return;
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!frozen()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        detail::try_write_value(dir_ + "/cgroup.freeze", "0");
        throw Error(Error::Kind::kTimeout, "cgroup " + dir_ + " not frozen 2s after cgroup.freeze=1; thawed again");
      }
      std::this_thread::sleep_for(1ms);
    }
  }

  // cgroup.events' "frozen 1" is the kernel's word that every task stopped; cgroup.freeze only
  // says what was asked.
  bool frozen() const override {
    auto events = read_optional(dir_ + "/cgroup.events");
    if (!events) return false;
    return ("\n" + *events).find("\nfrozen 1") != std::string::npos;
  }

  void kill_all(int sig) override {
    std::string kill_file = dir_ + "/cgroup.kill";
    if (sig == SIGKILL && detail::exists(kill_file)) {
      write("cgroup.kill", "1");
    } else {
      // Frozen processes cannot fork away from the signal; it is delivered once they thaw.
      std::string freeze_file = dir_ + "/cgroup.freeze";
      bool frozen = detail::try_write_value(freeze_file, "1") == 0;
      for (pid_t p : pids()) {
        if (::kill(p, sig) != 0 && errno != ESRCH) {
          int err = errno;
          if (frozen) detail::try_write_value(freeze_file, "0");
          throw SystemError(err, "kill -" + std::to_string(sig) + " " + std::to_string(p) + " in cgroup",
                            dir_);
        }
      }
      if (frozen) write("cgroup.freeze", "0");
    }
    if (sig != SIGKILL) return;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto left = pids();
      if (left.empty()) return;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw Error(Error::Kind::kTimeout, "cgroup " + dir_ + " still has " + std::to_string(left.size()) +
                                               " processes 5s after SIGKILL");
      }
      for (pid_t p : left) ::kill(p, SIGKILL);
      std::this_thread::sleep_for(10ms);
    }
  }

  void remove() override {
    fd_.reset();
    detail::remove_dir(dir_, std::chrono::steady_clock::now() + 1s);
  }

  std::string path() const override { return rel_; }

  std::vector<std::string> dirs() const override { return {dir_}; }

 private:
  void write(const char* file, const std::string& value) { write_value(dir_ + "/" + file, value); }

  std::string rel_;
  std::string dir_;
  Fd fd_;
};

class V2Manager final : public Manager {
 public:
  V2Manager(std::string root, std::string parent) : root_(std::move(root)), parent_(std::move(parent)) {
    detail::check_name("parent", parent_);
    if (!detail::is_dir(root_)) throw not_found("cgroup v2 root " + root_ + " is not a directory");
  }

  int version() const override { return 2; }

  std::unique_ptr<Cgroup> create(const std::string& id) override {
    detail::check_name("id", id);
    std::string parent = root_ + "/" + parent_;
    std::string dir = parent + "/" + id;
    enable_controllers(root_);
    detail::make_dir(parent);
    enable_controllers(parent);
    bool made = detail::make_dir(dir);
    try {
      return std::make_unique<V2Cgroup>(rel(id), dir);
    } catch (...) {
      if (made) ::rmdir(dir.c_str());
      throw;
    }
  }

  std::unique_ptr<Cgroup> open(const std::string& id) override {
    detail::check_name("id", id);
    std::string dir = root_ + "/" + parent_ + "/" + id;
    if (!detail::is_dir(dir)) throw not_found("cgroup " + id + " not found: no directory " + dir);
    return std::make_unique<V2Cgroup>(rel(id), dir);
  }

  std::vector<std::string> list() override { return detail::subdirs(root_ + "/" + parent_); }

 private:
  std::string rel(const std::string& id) const { return "/" + parent_ + "/" + id; }

  std::string root_;
  std::string parent_;
};

}  // namespace

std::unique_ptr<Manager> Manager::v2_at(std::string root_dir, std::string parent_name) {
  return std::make_unique<V2Manager>(std::move(root_dir), std::move(parent_name));
}

}  // namespace bocker::cgroup
