// One container's cgroup behind one interface, with a cgroup v1 and a cgroup v2 implementation.
// Blocking file I/O: call it from a worker thread (offload) or at startup.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bocker/cgroup/limits.hpp"
#include "bocker/cgroup/stats.hpp"

namespace bocker::cgroup {

// The calling thread placed in a container's cgroup by Cgroup::place_calling_thread(); restore()
// (or the destructor, best effort) moves it back where it was.
class ThreadPlacement {
 public:
  virtual ~ThreadPlacement() = default;
  // Moves the thread back; throws SystemError naming the `tasks` file when the kernel refuses.
  virtual void restore() = 0;
};

// One container's cgroup: one directory per hierarchy on v1, one directory on v2.
// The destructor does not remove it (containers outlive daemon restarts); remove() does.
class Cgroup {
 public:
  virtual ~Cgroup() = default;

  // Validates, then writes the limit files; errors name the file, the value and the errno text.
  virtual void apply(const Limits& limits) = 0;
  // Moves `pid` (a whole process) into the cgroup, in every hierarchy on v1.
  virtual void add_process(pid_t pid) = 0;
  // v2: an O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP), owned by this object; v1: -1.
  virtual int dir_fd_for_clone() const = 0;
  // v1: moves the calling thread, only it, into the cgroup in every hierarchy ("0" into each
  // `tasks` file), so a process it clones meanwhile starts inside, and returns the guard that
  // moves it back. Moving the calling thread takes no global lock, while moving another process
  // (add_process) makes the kernel wait for an RCU grace period (5-15 ms here, per container).
  // nullptr when this can't be done safely (v2: use dir_fd_for_clone; not a cgroup filesystem,
  // as in tests' fake trees; the thread's own cgroup can't be reopened; a pids limit below 2,
  // which the thread itself would use up): the caller falls back to add_process.
  virtual std::unique_ptr<ThreadPlacement> place_calling_thread() { return nullptr; }
  // Reads stat_files() and parses them; files the kernel does not offer count as zeros.
  virtual Stats stats() const = 0;
  // The files stats() reads (absolute paths), so a caller can batch the reads itself ...
  virtual std::vector<std::string> stat_files() const = 0;
  // ... and parse what it read, keyed by the paths stat_files() returned.
  virtual Stats parse_stats(const std::map<std::string, std::string>& contents) const = 0;
  // The processes in the cgroup (cgroup.procs).
  virtual std::vector<pid_t> pids() const = 0;
  // Sends `sig` to every process. For SIGKILL it waits (up to ~5 s) until the cgroup is empty
  // (v2 uses cgroup.kill when the kernel has it; v1 freezes, kills and thaws until empty).
  virtual void kill_all(int sig) = 0;
  // docker pause / unpause: freezes or thaws every process, waiting (up to ~2 s) until the kernel
  // reports the cgroup frozen (v1 freezer.state FROZEN, v2 "frozen 1" in cgroup.events); if it
  // does not get there, the cgroup is thawed again and an error says so. Throws when there is no
  // freezer (v1 without a freezer hierarchy).
  virtual void set_frozen(bool frozen) = 0;
  // Whether the cgroup is frozen now (the kernel's state, which outlives a daemon restart).
  virtual bool frozen() const = 0;
  // rmdir in every hierarchy once the processes are gone; EBUSY is retried briefly, then an error.
  // A directory that is already gone is fine.
  virtual void remove() = 0;
  // The cgroup path as /proc/<pid>/cgroup shows it ("/bocker/<id>").
  virtual std::string path() const = 0;
  // The directories of this cgroup (one per hierarchy on v1).
  virtual std::vector<std::string> dirs() const = 0;
};

class Manager {
 public:
  virtual ~Manager() = default;

  // The real /sys/fs/cgroup: v2 when it is a cgroup2 mount, else v1 hierarchies from
  // /proc/self/mountinfo. Cgroups live at <hierarchy>/<parent_name>/<id>.
  static std::unique_ptr<Manager> detect(std::string parent_name = "bocker");
  // A cgroup v2 tree at `root_dir` (tests point it at a fake directory tree).
  static std::unique_ptr<Manager> v2_at(std::string root_dir, std::string parent_name);
  // cgroup v1 hierarchies: controller name -> hierarchy root ("cpu" and "cpuacct" may share one).
  static std::unique_ptr<Manager> v1_at(std::map<std::string, std::string> controller_dirs,
                                        std::string parent_name);

  virtual int version() const = 0;
  // Creates <hierarchy>/<parent>/<id> (an existing one is reused); v2 first enables
  // cpu, memory, pids and io (those offered) in the parents' cgroup.subtree_control.
  // Throws Error(kInvalid) for an id that is not a plain name.
  virtual std::unique_ptr<Cgroup> create(const std::string& id) = 0;
  // An existing cgroup (after a daemon restart); Error(kNotFound) when it does not exist.
  virtual std::unique_ptr<Cgroup> open(const std::string& id) = 0;
  // The ids under <parent>/ (sorted), to sweep leftovers at start.
  virtual std::vector<std::string> list() = 0;
};

// The cgroup v1 hierarchies in a /proc/self/mountinfo text: controller -> mount point
// ("cpu" and "cpuacct" map to the same directory when co-mounted). Named hierarchies are skipped.
std::map<std::string, std::string> v1_hierarchies(const std::string& mountinfo);

}  // namespace bocker::cgroup
