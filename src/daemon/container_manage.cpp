// docker top, rename and container prune.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/create_spec.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/api/filters.hpp"
#include "container_record.hpp"

extern char** environ;

namespace bocker::daemon {

using nlohmann::json;

namespace {

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

// Blocking. Runs ps(1) with `args` and returns its exit status and standard output (stderr too,
// for the error message).
std::pair<int, std::string> run_ps(const std::vector<std::string>& args) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw SystemError(errno, "pipe", "for ps");
  Fd r(p[0]), w(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, w.get(), 2);
  std::vector<std::string> argv_s{"ps"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "ps", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw SystemError(rc, "run", "ps (procps) for docker top");
  w.reset();
  std::string out;
  char buf[16384];
  for (ssize_t n; (n = ::read(r.get(), buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// Docker's top: ps output cut into Titles and Processes, only the rows of `pids`.
json parse_ps(const std::string& out, const std::set<pid_t>& pids) {
  std::istringstream in(out);
  std::string header;
  std::getline(in, header);
  json titles = json::array();
  std::vector<std::string> t = fields(header);
  std::size_t pid_col = t.size();
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == "PID") pid_col = i;
    titles.push_back(t[i]);
  }
  if (pid_col == t.size()) throw invalid("Couldn't find PID field in ps output");
  json procs = json::array();
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = fields(line);
    if (f.size() < t.size()) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(f[pid_col]));
    } catch (const std::exception&) {
      continue;
    }
    if (pids.count(pid) == 0) continue;
    json row = json::array();
    for (std::size_t i = 0; i + 1 < t.size(); ++i) row.push_back(f[i]);
    std::string last = f[t.size() - 1];  // the command keeps its arguments
    for (std::size_t i = t.size(); i < f.size(); ++i) last += " " + f[i];
    row.push_back(last);
    procs.push_back(std::move(row));
  }
  return {{"Titles", titles}, {"Processes", procs}};
}

}  // namespace

rt::Task<json> ContainerService::top(std::string name, std::string ps_args) {
  Container& c = find(name);
  if (!c.running() || c.pid <= 0) throw conflict("Container " + c.id + " is not running");
  std::vector<std::string> args = fields(ps_args.empty() ? "-ef" : ps_args);
  cgroup::Cgroup* cg = c.cg.get();
  pid_t init = c.pid;
  co_return co_await rt::offload([cg, init, &args] {
    std::set<pid_t> pids{init};
    if (cg != nullptr) {
      for (pid_t p : cg->pids()) pids.insert(p);
    }
    // As docker: ps with the container's pids (-q) when this ps has it, else all and filtered.
    std::string list;
    for (pid_t p : pids) list += (list.empty() ? "" : ",") + std::to_string(p);
    std::vector<std::string> with_q = args;
    with_q.insert(with_q.end(), {"-q", list});
    auto [status, out] = run_ps(with_q);
    if (status != 0) std::tie(status, out) = run_ps(args);
    if (status != 0) {
      while (!out.empty() && out.back() == '\n') out.pop_back();
      throw invalid("ps: " + out);
    }
    return parse_ps(out, pids);
  });
}

rt::Task<void> ContainerService::rename(std::string name, std::string new_name) {
  Container& c = find(name);
  if (new_name.empty() || new_name == "/") throw invalid("Neither old nor new names may be empty");
  std::string to = create_name(new_name);
  if (to == c.name) throw invalid("Renaming a container with the same name as its current name");
  if (auto it = names_.find(to); it != names_.end()) {
    throw conflict("Conflict. The container name \"/" + to + "\" is already in use by container \"" + it->second +
                   "\". You have to remove (or rename) that container to be able to reuse that name.");
  }
  std::string from = c.name;
  names_.erase(from);
  names_[to] = c.id;
  c.name = to;
  try {
    co_await save(c);
  } catch (...) {
    names_.erase(to);
    names_[from] = c.id;
    c.name = from;
    throw;
  }
  emit(c, "rename", {{"oldName", "/" + from}});
}

rt::Task<json> ContainerService::prune(json filters) {
  // label=key, label=key=value, label!=...: docker's container prune filters ("until" is not
  // supported here and says so).
  std::vector<std::pair<std::string, bool>> labels;  // (key[=value], wanted)
  if (filters.is_object()) {
    for (auto it = filters.begin(); it != filters.end(); ++it) {
      if (it.key() != "label" && it.key() != "label!") throw invalid("invalid filter '" + it.key() + "' for prune");
      for (const auto& v : api::filter_values(it.value())) labels.emplace_back(v, it.key() == "label");
    }
  }
  auto keep = [&labels](const Container& c) {
    json l = c.config.value("Labels", json::object());
    for (const auto& [want, positive] : labels) {
      auto eq = want.find('=');
      std::string key = want.substr(0, eq);
      bool has = l.is_object() && l.contains(key) && l[key].is_string() &&
                 (eq == std::string::npos || l[key].get<std::string>() == want.substr(eq + 1));
      if (has != positive) return true;
    }
    return false;
  };
  std::vector<std::string> ids;
  for (const auto& [id, c] : by_id_) {
    if ((c->status == "exited" || c->status == "created") && !keep(*c)) ids.push_back(id);
  }
  json deleted = json::array();
  for (const std::string& id : ids) {
    try {
      co_await remove(id, false, false);
      deleted.push_back(id);
    } catch (const Error& e) {
      if (e.kind() != Error::Kind::kNotFound && e.kind() != Error::Kind::kConflict) throw;
    }
  }
  co_return json{{"ContainersDeleted", deleted}, {"SpaceReclaimed", 0}};
}

}  // namespace bocker::daemon
