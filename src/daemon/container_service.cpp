#include "bocker/daemon/container_service.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <random>

#include "bocker/cgroup/cgroup.hpp"
#include "bocker/cgroup/limits.hpp"
#include "bocker/container/spawn.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/io.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/process.hpp"

namespace bocker::daemon {

using nlohmann::json;
using Clock = std::chrono::system_clock;

namespace {

constexpr int kStdout = 1;
constexpr int kStderr = 2;
constexpr std::int64_t kMinMemory = 6 * 1024 * 1024;

// One record of the log file: a fixed header, then `len` bytes of output.
struct LogHeader {
  std::int64_t ts_ns;
  std::uint32_t len;
  std::uint8_t stream;
  std::uint8_t pad[3];
};
static_assert(sizeof(LogHeader) == 16);

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string rfc3339_nano(std::int64_t ns) {
  if (ns <= 0) return "0001-01-01T00:00:00Z";
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1'000'000'000));
  return buf;
}

std::string human_ago(std::int64_t ns) {
  std::int64_t s = (now_ns() - ns) / 1'000'000'000;
  if (s < 1) return "Less than a second";
  if (s < 60) return std::to_string(s) + " second" + (s == 1 ? "" : "s");
  if (s < 3600) return std::to_string(s / 60) + " minute" + (s / 60 == 1 ? "" : "s");
  if (s < 86400) return std::to_string(s / 3600) + " hour" + (s / 3600 == 1 ? "" : "s");
  return std::to_string(s / 86400) + " day" + (s / 86400 == 1 ? "" : "s");
}

const char* kAdjectives[] = {"admiring", "brave", "clever", "dazzling", "eager", "festive", "gallant", "happy",
                             "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "quirky", "relaxed",
                             "serene", "tender", "upbeat", "vibrant", "wizardly", "zealous"};
const char* kNames[] = {"turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra",
                        "liskov", "hamilton", "kernighan", "pike", "wirth", "backus", "mccarthy", "shannon",
                        "babbage", "noether", "curie", "tesla", "bohr", "fermi"};

int parse_signal(std::string s) {
  if (s.empty()) return SIGKILL;
  bool digits = std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    int n = std::stoi(s);
    if (n < 1 || n > 64) throw invalid("invalid signal: " + s);
    return n;
  }
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
      {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
      {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"WINCH", SIGWINCH}};
  for (const auto& [name, sig] : kSignals) {
    if (s == name) return sig;
  }
  throw invalid("invalid signal: " + s);
}

std::vector<std::string> strings_of(const json& j, const char* what) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (j.is_string()) return {j.get<std::string>()};
  if (!j.is_array()) throw invalid(std::string(what) + " must be an array of strings");
  for (const auto& e : j) {
    if (!e.is_string()) throw invalid(std::string(what) + " must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::int64_t int_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (!it->is_number_integer()) throw invalid(std::string("HostConfig.") + key + " must be an integer");
  return it->get<std::int64_t>();
}

std::string host_resolv_conf() {
  std::string out;
  try {
    std::string text = read_file("/etc/resolv.conf");
    std::size_t pos = 0;
    bool have_ns = false;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      if (line.rfind("nameserver", 0) == 0) {
        std::string addr = line.substr(10);
        addr.erase(0, addr.find_first_not_of(" \t"));
        if (addr.rfind("127.", 0) == 0 || addr == "::1") continue;  // loopback resolvers don't work inside
        have_ns = true;
      }
      out += line + "\n";
    }
    if (!have_ns) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  } catch (const std::exception&) {
    out = "nameserver 8.8.8.8\n";
  }
  return out;
}

Fd open_log(const std::string& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd) throw SystemError(errno, "open log", path);
  return fd;
}

struct Pipe {
  Fd r, w;
  static Pipe make(const char* what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw SystemError(errno, "pipe2", what);
    Pipe p;
    p.r.reset(fds[0]);
    p.w.reset(fds[1]);
    return p;
  }
};

}  // namespace

// One attached client (docker run/attach): output frames go to its socket.
struct Attacher {
  int fd;
  bool out, err, tty;
  bool broken = false;
};

struct Container {
  std::string id, name, image, image_id, layer;
  std::int64_t created_ns = 0;
  json config;       // Docker's Config, with image defaults applied
  json host_config;  // Docker's HostConfig as sent
  std::vector<std::string> argv;
  // state
  std::string status = "created";  // created, running, exited, removing
  pid_t pid = 0;
  int exit_code = 0;
  bool oom_killed = false;
  std::string error;
  std::int64_t started_ns = 0, finished_ns = 0;
  int restart_count = 0;
  std::string rootfs;
  std::string dir;
  // runtime only
  std::unique_ptr<cgroup::Cgroup> cg;
  Fd pidfd;
  Fd stdin_w;
  Fd log_fd;
  Fd pty_master;
  std::string stdin_pending;  // stdin that arrived before start
  bool stdin_closed = false;
  std::vector<Attacher*> attachers;
  rt::Notifier exited;   // each exit
  rt::Notifier removed;  // gone
  rt::Notifier output;   // new log records (logs -f)
  bool gone = false;
  bool tty() const { return config.value("Tty", false); }
  bool running() const { return status == "running"; }

  json to_json() const {
    return {{"Id", id},           {"Name", name},         {"Image", image},       {"ImageID", image_id},
            {"Layer", layer},     {"Created", created_ns}, {"Config", config},     {"HostConfig", host_config},
            {"Argv", argv},       {"Status", status == "running" ? "exited" : status},
            {"ExitCode", status == "running" ? 255 : exit_code},
            {"OOMKilled", oom_killed}, {"Error", error}, {"StartedAt", started_ns}, {"FinishedAt", finished_ns},
            {"RestartCount", restart_count}, {"Rootfs", rootfs}};
  }
};

ContainerService::ContainerService(std::string root, ImageService& images)
    : root_(std::move(root) + "/containers"), images_(images) {
  make_dirs(root_, 0710);
  try {
    cgroups_ = cgroup::Manager::detect("bocker");
  } catch (const std::exception& e) {
    log_line(std::string("containers: no cgroups, limits will not be applied: ") + e.what());
  }
  images_.image_in_use = [this](const std::string& id) { return image_in_use(id); };
  if (cgroups_) {
    // Cgroups left by a crash: empty ones go (one with processes stays, removal fails quietly).
    try {
      for (const std::string& id : cgroups_->list()) {
        try {
          cgroups_->open(id)->remove();
        } catch (const std::exception&) {
        }
      }
    } catch (const std::exception& e) {
      log_line(std::string("containers: cannot list leftover cgroups: ") + e.what());
    }
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    std::string path = entry.path().string() + "/config.json";
    try {
      json j = json::parse(read_file(path));
      auto c = std::make_unique<Container>();
      c->id = j.at("Id");
      c->name = j.at("Name");
      c->image = j.value("Image", "");
      c->image_id = j.value("ImageID", "");
      c->layer = j.value("Layer", "");
      c->created_ns = j.value("Created", std::int64_t{0});
      c->config = j.value("Config", json::object());
      c->host_config = j.value("HostConfig", json::object());
      c->argv = j.value("Argv", std::vector<std::string>{});
      c->status = j.value("Status", "exited");
      if (c->status == "running" || c->status == "removing") c->status = "exited";
      c->exit_code = j.value("ExitCode", 0);
      c->oom_killed = j.value("OOMKilled", false);
      c->error = j.value("Error", "");
      c->started_ns = j.value("StartedAt", std::int64_t{0});
      c->finished_ns = j.value("FinishedAt", std::int64_t{0});
      c->restart_count = j.value("RestartCount", 0);
      c->rootfs = j.value("Rootfs", "");
      c->dir = entry.path().string();
      names_[c->name] = c->id;
      by_id_[c->id] = std::move(c);
    } catch (const std::exception& e) {
      log_line("containers: skipping " + path + ": " + e.what());
    }
  }
}

ContainerService::~ContainerService() = default;

bool ContainerService::image_in_use(const std::string& image_id) const {
  for (const auto& [id, c] : by_id_) {
    if (c->image_id == image_id) return true;
  }
  return false;
}

int ContainerService::count_running() const {
  int n = 0;
  for (const auto& [id, c] : by_id_) n += c->running() ? 1 : 0;
  return n;
}
int ContainerService::count_all() const { return static_cast<int>(by_id_.size()); }

Container& ContainerService::find(const std::string& name_or_id) const {
  std::string key = name_or_id;
  if (!key.empty() && key[0] == '/') key.erase(0, 1);
  if (auto it = by_id_.find(key); it != by_id_.end()) return *it->second;
  if (auto it = names_.find(key); it != names_.end()) return *by_id_.at(it->second);
  Container* hit = nullptr;
  if (!key.empty() && key.size() < 64) {
    for (const auto& [id, c] : by_id_) {
      if (id.compare(0, key.size(), key) == 0) {
        if (hit != nullptr) throw invalid("multiple IDs found with provided prefix: " + key);
        hit = c.get();
      }
    }
  }
  if (hit == nullptr) throw not_found("No such container: " + name_or_id);
  return *hit;
}

rt::Task<void> ContainerService::save(Container& c) {
  std::string path = c.dir + "/config.json";
  std::string data = c.to_json().dump();
  co_await rt::offload([&path, &data] { write_file_atomic(path, data, 0600); });
}

rt::Task<json> ContainerService::create(json body, std::string name) {
  // The name.
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  if (!name.empty()) {
    static const auto valid = [](const std::string& n) {
      if (n.empty() || n.size() > 128 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
      return std::all_of(n.begin(), n.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
      });
    };
    if (!valid(name)) throw invalid("Invalid container name (" + name + "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    if (auto it = names_.find(name); it != names_.end()) {
      throw conflict("Conflict. The container name \"/" + name + "\" is already in use by container \"" + it->second +
                     "\". You have to remove (or rename) that container to be able to reuse that name.");
    }
  }
  // The image.
  if (!body.contains("Image") || !body["Image"].is_string() || body["Image"].get<std::string>().empty()) {
    throw invalid("Config.Image must name an image");
  }
  std::string image = body["Image"];
  std::string image_id = images_.images().resolve(image);  // 404 "No such image" drives the CLI's auto-pull
  image::ImageRecord rec = images_.images().get(image_id);
  registry::ImageConfig icfg = registry::parse_image_config(rec.config_json);

  json hc = body.value("HostConfig", json::object());
  if (!hc.is_object()) throw invalid("HostConfig must be an object");
  std::int64_t memory = int_field(hc, "Memory");
  if (memory != 0 && memory < kMinMemory) throw invalid("Minimum memory limit allowed is 6MB");
  if (memory < 0) throw invalid("invalid memory limit");
  std::int64_t shares = int_field(hc, "CpuShares");
  if (shares < 0 || shares > 262144) throw invalid("CpuShares must be between 2 and 262144");
  std::int64_t nano = int_field(hc, "NanoCpus");
  if (nano < 0 || nano > 1024LL * 1'000'000'000) throw invalid("Range of CPUs is from 0.01 to the number of CPUs available");
  std::int64_t pids = int_field(hc, "PidsLimit");
  if (pids < -1) throw invalid("PidsLimit must be -1 (unlimited) or positive");
  std::string net = hc.value("NetworkMode", "default");
  if (net != "default" && net != "bridge" && net != "none" && net != "host") {
    throw invalid("network " + net + " not found");
  }

  // Config: the request over the image's defaults.
  json cfg = json::object();
  for (const char* k : {"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                        "OpenStdin", "StdinOnce", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "StopSignal",
                        "ExposedPorts", "Volumes", "StopTimeout"}) {
    if (body.contains(k) && !body[k].is_null()) cfg[k] = body[k];
  }
  std::vector<std::string> entrypoint =
      body.contains("Entrypoint") && !body["Entrypoint"].is_null() ? strings_of(body["Entrypoint"], "Entrypoint") : icfg.entrypoint;
  bool entrypoint_given = body.contains("Entrypoint") && !body["Entrypoint"].is_null();
  std::vector<std::string> cmd = body.contains("Cmd") && !body["Cmd"].is_null() ? strings_of(body["Cmd"], "Cmd")
                                 : (entrypoint_given ? std::vector<std::string>{} : icfg.cmd);
  std::vector<std::string> argv = entrypoint;
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (argv.empty() || argv[0].empty()) throw invalid("No command specified");
  std::vector<std::string> env = icfg.env;
  for (const auto& e : strings_of(body.value("Env", json()), "Env")) {
    auto key = e.substr(0, e.find('='));
    std::erase_if(env, [&key](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    env.push_back(e);
  }
  cfg["Env"] = env;
  cfg["Cmd"] = cmd;
  cfg["Entrypoint"] = entrypoint.empty() ? json() : json(entrypoint);
  cfg["Image"] = image;
  if (!cfg.contains("WorkingDir") || cfg["WorkingDir"].get<std::string>().empty()) cfg["WorkingDir"] = icfg.working_dir;
  if (!cfg.contains("User") || cfg["User"].get<std::string>().empty()) cfg["User"] = icfg.user;
  if (!cfg.contains("Tty")) cfg["Tty"] = false;
  if (!cfg.contains("OpenStdin")) cfg["OpenStdin"] = false;
  if (!cfg.contains("Labels")) cfg["Labels"] = json::object();

  auto c = std::make_unique<Container>();
  do {
    c->id = image::random_id();
  } while (by_id_.count(c->id) != 0 || names_.count(c->id.substr(0, 12)) != 0);
  if (name.empty()) {
    std::mt19937 rng(std::random_device{}());
    do {
      name = std::string(kAdjectives[rng() % std::size(kAdjectives)]) + "_" + kNames[rng() % std::size(kNames)];
      if (names_.count(name) != 0) name += "_" + std::to_string(rng() % 100);
    } while (names_.count(name) != 0);
  }
  if (!cfg.contains("Hostname") || cfg["Hostname"].get<std::string>().empty()) cfg["Hostname"] = c->id.substr(0, 12);
  c->name = name;
  c->image = image;
  c->image_id = image_id;
  c->layer = std::string(image::sha256_hex(rec.chain_ids.empty() ? image::chain_id(rec.diff_ids) : rec.chain_ids.back()));
  c->created_ns = now_ns();
  c->config = cfg;
  c->host_config = hc;
  c->argv = argv;
  c->dir = root_ + "/" + c->id;
  names_[name] = c->id;  // reserve the name while the rootfs is made
  Container& ref = *c;
  by_id_[c->id] = std::move(c);
  std::exception_ptr failure;
  try {
    storage::Driver& drv = images_.driver();
    std::string dir = ref.dir, id = ref.id, layer = ref.layer;
    ref.rootfs = co_await rt::offload([&drv, &dir, &id, &layer] {
      make_dirs(dir, 0700);
      return drv.create_rootfs(id, layer);
    });
    co_await save(ref);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    std::exception_ptr e = failure;
    std::string id = ref.id, dir = ref.dir;
    names_.erase(ref.name);
    by_id_.erase(id);
    storage::Driver& drv = images_.driver();
    co_await rt::offload([&drv, &id, &dir] {
      try {
        drv.remove_rootfs(id);
      } catch (const std::exception&) {
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    std::rethrow_exception(e);
  }
  co_return json{{"Id", ref.id}, {"Warnings", json::array()}};
}

rt::Task<void> ContainerService::start(std::string name) {
  Container& c = find(name);
  if (c.running()) throw Error(Error::Kind::kConflict, "container " + c.id.substr(0, 12) + " is already running");
  if (c.status == "removing") throw conflict("container " + c.id.substr(0, 12) + " is being removed");
  bool tty = c.tty();
  bool open_stdin = c.config.value("OpenStdin", false);
  std::string net = c.host_config.value("NetworkMode", "default");

  container::SpawnSpec spec;
  spec.rootfs = c.rootfs;
  spec.argv = c.argv;
  spec.env = c.config.value("Env", std::vector<std::string>{});
  spec.cwd = c.config.value("WorkingDir", "");
  if (spec.cwd.empty()) spec.cwd = "/";
  spec.user = c.config.value("User", "");
  spec.hostname = c.config.value("Hostname", c.id.substr(0, 12));
  spec.new_network = net != "host";
  spec.hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  spec.hostname_file = spec.hostname + "\n";
  spec.tty = tty;

  Pipe out, err, in;
  Fd pty_slave;
  if (tty) {
    int m = -1, s = -1;
    if (::openpty(&m, &s, nullptr, nullptr, nullptr) != 0) throw SystemError(errno, "openpty", "container " + c.id);
    c.pty_master.reset(m);
    pty_slave.reset(s);
    ::fcntl(m, F_SETFD, FD_CLOEXEC);
    ::fcntl(s, F_SETFD, FD_CLOEXEC);
    spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = s;
  } else {
    out = Pipe::make("stdout");
    err = Pipe::make("stderr");
    spec.stdout_fd = out.w.get();
    spec.stderr_fd = err.w.get();
    if (open_stdin) {
      in = Pipe::make("stdin");
      spec.stdin_fd = in.r.get();
    }
  }
  // File work off the loop: the host's resolv.conf and the log file.
  {
    std::string log_path = c.dir + "/container.log";
    Fd* log_fd = &c.log_fd;
    co_await rt::offload([&spec, &log_path, log_fd] {
      spec.resolv_conf = host_resolv_conf();
      if (!*log_fd) *log_fd = open_log(log_path);
    });
  }

  // The cgroup: limits written before the process runs; v2 clones straight into it, v1 moves
  // the child while it waits at the start gate.
  cgroup::Limits limits;
  const json& hc = c.host_config;
  limits.memory_bytes = int_field(hc, "Memory");
  limits.memory_swap = int_field(hc, "MemorySwap");
  limits.cpu_shares = int_field(hc, "CpuShares");
  if (std::int64_t nano = int_field(hc, "NanoCpus"); nano > 0) {
    limits.cpu_period_us = 100000;
    limits.cpu_quota_us = nano / 10000;  // nano / 1e9 * 100000
  } else {
    limits.cpu_quota_us = int_field(hc, "CpuQuota");
    limits.cpu_period_us = int_field(hc, "CpuPeriod");
  }
  if (std::int64_t pl = int_field(hc, "PidsLimit"); pl > 0) limits.pids_limit = pl;
  if (cgroups_) {
    cgroup::Manager* mgr = cgroups_.get();
    std::string id = c.id;
    c.cg = co_await rt::offload([mgr, &id, &limits] {
      auto cg = mgr->create(id);
      try {
        cg->apply(limits);
      } catch (...) {
        try {
          cg->remove();
        } catch (...) {
        }
        throw;
      }
      return cg;
    });
    spec.cgroup_fd = c.cg->dir_fd_for_clone();
    for (const auto& d : c.cg->dirs()) cgroup_parents_.insert(d.substr(0, d.rfind('/')));
  }

  container::Spawned sp;
  std::optional<container::SpawnError> failed;
  try {
    cgroup::Cgroup* cg = c.cg.get();
    bool move_after_clone = cg != nullptr && spec.cgroup_fd < 0;
    sp = co_await rt::offload([&spec, cg, move_after_clone] {
      std::function<void(pid_t)> gate;
      if (move_after_clone) gate = [cg](pid_t pid) { cg->add_process(pid); };
      return container::spawn(spec, gate);
    });
  } catch (const container::SpawnError& e) {
    failed = e;
  }
  if (failed && c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    co_await rt::offload([cg] {
      try {
        cg->remove();
      } catch (const std::exception&) {
      }
    });
    c.cg.reset();
  }
  if (failed) {
    c.status = "exited";
    c.exit_code = failed->exit_code();
    c.error = failed->what();
    c.finished_ns = now_ns();
    c.exited.notify_all();
    std::string message = std::string("failed to create task for container: ") + failed->what() + ": unknown";
    if (c.host_config.value("AutoRemove", false)) {
      co_await remove(c.id, true, false);  // --rm: the CLI waits for condition=removed
    } else {
      co_await save(c);
    }
    throw invalid(message);
  }
  c.pidfd = std::move(sp.pidfd);
  c.pid = sp.pid;
  c.status = "running";
  c.error.clear();
  c.exit_code = 0;
  c.started_ns = now_ns();
  c.finished_ns = 0;
  if (tty) {
    pty_slave.reset();
    c.stdin_w.reset(::dup(c.pty_master.get()));
  } else if (open_stdin) {
    c.stdin_w = std::move(in.w);
  }
  // Stdin sent before start.
  if (c.stdin_w && !c.stdin_pending.empty()) {
    std::string pending = std::move(c.stdin_pending);
    c.stdin_pending.clear();
    co_await rt::write_all(c.stdin_w.get(), pending);
  }
  // The client's stdin ended before the start: the container sees EOF after the buffered bytes.
  if (c.stdin_closed && !tty) c.stdin_w.reset();
  c.stdin_closed = false;
  co_await save(c);

  // The supervisor owns the read ends.
  struct Streams {
    Fd out, err;
  };
  auto streams = std::make_shared<Streams>();
  if (!tty) {
    streams->out = std::move(out.r);
    streams->err = std::move(err.r);
  }
  supervisors_.spawn([](ContainerService& self, Container& ct, std::shared_ptr<Streams> st) -> rt::Task<void> {
    auto reader = [](ContainerService& s, Container& k, int fd, int stream) -> rt::Task<void> {
      std::vector<char> buf(64 * 1024);
      for (;;) {
        int n = co_await rt::read(fd, buf.data(), static_cast<unsigned>(buf.size()));
        if (n == -EINTR || n == -EAGAIN) continue;
        if (n <= 0) break;  // EOF, EIO on a pty whose slave closed, or cancelled
        co_await s.record(k, stream, std::string_view(buf.data(), static_cast<std::size_t>(n)));
      }
    };
    rt::TaskScope readers;
    if (ct.tty()) {
      readers.spawn(reader(self, ct, ct.pty_master.get(), kStdout));
    } else {
      readers.spawn(reader(self, ct, st->out.get(), kStdout));
      readers.spawn(reader(self, ct, st->err.get(), kStderr));
    }
    co_await self.supervise(ct);
    // Output written just before the exit is still in the pipes: read to EOF, but don't wait
    // forever on a pipe a daemonised grandchild keeps open.
    auto drain = [](rt::TaskScope& r) -> rt::Task<void> { co_await r.join(); };
    try {
      co_await rt::with_timeout(drain(readers), std::chrono::seconds(2));
    } catch (const Error&) {
    }
    readers.cancel();
    co_await readers.join();
    co_await self.destroy(ct);
  }(*this, c, streams));
}

rt::Task<void> ContainerService::supervise(Container& c) {
  rt::ExitStatus st;
  try {
    st = co_await rt::wait_exit(c.pidfd.get());
  } catch (const std::exception& e) {
    log_line("container " + c.id.substr(0, 12) + ": wait: " + e.what());
    st.code = 255;
  }
  c.exit_code = st.code;
  c.oom_killed = false;
  if (c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    std::uint64_t ooms = 0;
    try {
      ooms = co_await rt::offload([cg] { return cg->stats().oom_events; });
    } catch (const std::exception& e) {
      log_line("container " + c.id.substr(0, 12) + ": cgroup stats: " + e.what());
    }
    c.oom_killed = ooms > 0 && st.signal == SIGKILL;
  }
  c.finished_ns = now_ns();
  c.pid = 0;
  c.pidfd.reset();
}

// Called by the supervisor once the process has exited and its output is drained.
rt::Task<void> ContainerService::destroy(Container& c) {
  if (c.cg) {
    cgroup::Cgroup* cg = c.cg.get();
    std::string id = c.id;
    co_await rt::offload([cg, &id] {
      try {
        cg->kill_all(SIGKILL);  // anything PID 1 left behind
        cg->remove();
      } catch (const std::exception& e) {
        log_line("container " + id.substr(0, 12) + ": cgroup cleanup: " + e.what());
      }
    });
    c.cg.reset();
  }
  c.status = "exited";
  c.stdin_w.reset();
  c.pty_master.reset();
  co_await save(c);
  c.exited.notify_all();
  c.output.notify_all();
  if (c.host_config.value("AutoRemove", false)) {
    try {
      co_await remove(c.id, true, true);
    } catch (const std::exception& e) {
      log_line("container " + c.id.substr(0, 12) + ": --rm: " + e.what());
    }
  }
}

rt::Task<void> ContainerService::record(Container& c, int stream, std::string_view data) {
  LogHeader h{};
  h.ts_ns = now_ns();
  h.len = static_cast<std::uint32_t>(data.size());
  h.stream = static_cast<std::uint8_t>(stream);
  iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(data.data()), data.size()}};
  if (c.log_fd) {
    int n = co_await rt::writev(c.log_fd.get(), iov, 2);
    if (n < 0) log_line("container " + c.id.substr(0, 12) + ": log write: " + errno_text(-n));
  }
  c.output.notify_all();
  if (c.attachers.empty()) co_return;
  std::string frame;
  auto attachers = c.attachers;  // an attacher may leave while we send
  for (Attacher* a : attachers) {
    if (a->broken || (stream == kStdout && !a->out) || (stream == kStderr && !a->err)) continue;
    long n;
    if (a->tty) {
      n = co_await rt::write_all(a->fd, data, true);
    } else {
      if (frame.empty()) {
        frame.resize(8 + data.size());
        frame[0] = static_cast<char>(stream);
        std::uint32_t be = htobe32(static_cast<std::uint32_t>(data.size()));
        std::memcpy(frame.data() + 4, &be, 4);
        std::memcpy(frame.data() + 8, data.data(), data.size());
      }
      n = co_await rt::write_all(a->fd, frame, true);
    }
    if (n < 0) a->broken = true;
  }
}

rt::Task<void> ContainerService::stop(std::string name, int timeout_s) {
  Container& c = find(name);
  if (!c.running()) co_return;  // docker answers 304; the CLI treats both as success
  int sig = SIGTERM;
  std::string ss = c.config.value("StopSignal", "");
  if (!ss.empty()) sig = parse_signal(ss);
  if (timeout_s < 0) timeout_s = c.config.value("StopTimeout", 10);
  if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), sig);
  auto waiter = [](Container& k) -> rt::Task<void> {
    while (k.running()) co_await k.exited.wait();
  };
  bool timed_out = false;
  try {
    co_await rt::with_timeout(waiter(c), std::chrono::seconds(timeout_s));
  } catch (const Error& e) {
    if (e.kind() != Error::Kind::kTimeout) throw;
    timed_out = true;
  }
  if (timed_out) {
    if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), SIGKILL);
    co_await waiter(c);
  }
}

rt::Task<void> ContainerService::kill(std::string name, std::string signal) {
  Container& c = find(name);
  int sig = parse_signal(signal);
  if (!c.running() || !c.pidfd) throw conflict("Container " + c.id + " is not running");
  int rc = rt::pidfd_kill(c.pidfd.get(), sig);
  if (rc < 0 && rc != -ESRCH) throw SystemError(-rc, "kill", "container " + c.id);
  co_return;
}

rt::Task<void> ContainerService::restart(std::string name, int timeout_s) {
  Container& c = find(name);
  co_await stop(c.id, timeout_s);
  while (c.running()) co_await c.exited.wait();
  // The supervisor finishes its bookkeeping (status "exited") before a new start.
  while (c.status != "exited" && c.status != "created") co_await c.exited.wait();
  ++c.restart_count;
  co_await start(c.id);
}

rt::Task<void> ContainerService::remove(std::string name, bool force, bool /*volumes*/) {
  Container& c = find(name);
  if (c.status == "removing") co_return;
  if (c.running()) {
    if (!force) {
      throw conflict("You cannot remove a running container " + c.id +
                     ". Stop the container before attempting removal or force remove");
    }
    if (c.pidfd) rt::pidfd_kill(c.pidfd.get(), SIGKILL);
    while (c.running() || c.pid != 0) co_await c.exited.wait();
  }
  c.status = "removing";
  std::string id = c.id, dir = c.dir;
  c.log_fd.reset();
  storage::Driver& drv = images_.driver();
  co_await rt::offload([&drv, &id, &dir] {
    try {
      drv.remove_rootfs(id);
    } catch (const Error& e) {
      if (e.kind() != Error::Kind::kNotFound) throw;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) throw SystemError(ec.value(), "remove", dir);
  });
  names_.erase(c.name);
  c.gone = true;
  c.removed.notify_all();
  c.exited.notify_all();
  // Frame waiters still hold a reference: free the record once they have run.
  auto node = by_id_.extract(id);
  auto holder = std::make_shared<std::unique_ptr<Container>>(std::move(node.mapped()));
  supervisors_.spawn([](std::shared_ptr<std::unique_ptr<Container>> h) -> rt::Task<void> {
    co_await rt::nop();
    co_await rt::nop();
    h.reset();
  }(holder));
}

rt::Task<json> ContainerService::list(bool all) {
  json out = json::array();
  std::vector<Container*> cs;
  for (const auto& [id, c] : by_id_) {
    if (all || c->running()) cs.push_back(c.get());
  }
  std::sort(cs.begin(), cs.end(), [](Container* a, Container* b) { return a->created_ns > b->created_ns; });
  for (Container* c : cs) {
    std::string status;
    if (c->running()) {
      status = "Up " + human_ago(c->started_ns);
    } else if (c->status == "created") {
      status = "Created";
    } else {
      status = "Exited (" + std::to_string(c->exit_code) + ") " + human_ago(c->finished_ns) + " ago";
    }
    std::string command;
    for (const auto& a : c->argv) command += (command.empty() ? "" : " ") + a;
    out.push_back({{"Id", c->id},
                   {"Names", {"/" + c->name}},
                   {"Image", c->image},
                   {"ImageID", c->image_id},
                   {"Command", command},
                   {"Created", c->created_ns / 1'000'000'000},
                   {"State", c->status == "removing" ? "removing" : c->status},
                   {"Status", status},
                   {"Ports", json::array()},
                   {"Labels", c->config.value("Labels", json::object())},
                   {"Mounts", json::array()},
                   {"HostConfig", {{"NetworkMode", c->host_config.value("NetworkMode", "default")}}},
                   {"NetworkSettings", {{"Networks", json::object()}}}});
  }
  co_return out;
}

rt::Task<json> ContainerService::inspect(std::string name) {
  Container& c = find(name);
  std::vector<std::string> args(c.argv.begin() + (c.argv.empty() ? 0 : 1), c.argv.end());
  json hc = c.host_config;
  if (!hc.contains("NetworkMode")) hc["NetworkMode"] = "default";
  if (!hc.contains("AutoRemove")) hc["AutoRemove"] = false;
  if (!hc.contains("RestartPolicy")) hc["RestartPolicy"] = {{"Name", "no"}, {"MaximumRetryCount", 0}};
  co_return json{
      {"Id", c.id},
      {"Created", rfc3339_nano(c.created_ns)},
      {"Path", c.argv.empty() ? "" : c.argv[0]},
      {"Args", args},
      {"State",
       {{"Status", c.status},
        {"Running", c.running()},
        {"Paused", false},
        {"Restarting", false},
        {"OOMKilled", c.oom_killed},
        {"Dead", false},
        {"Pid", c.pid},
        {"ExitCode", c.exit_code},
        {"Error", c.error},
        {"StartedAt", rfc3339_nano(c.started_ns)},
        {"FinishedAt", rfc3339_nano(c.finished_ns)}}},
      {"Image", c.image_id},
      {"ResolvConfPath", ""},
      {"HostnamePath", ""},
      {"HostsPath", ""},
      {"LogPath", c.dir + "/container.log"},
      {"Name", "/" + c.name},
      {"RestartCount", c.restart_count},
      {"Driver", images_.driver_name()},
      {"Platform", "linux"},
      {"MountLabel", ""},
      {"ProcessLabel", ""},
      {"AppArmorProfile", ""},
      {"HostConfig", hc},
      {"GraphDriver", {{"Name", images_.driver_name()}, {"Data", {{"MergedDir", c.rootfs}}}}},
      {"Mounts", json::array()},
      {"Config", c.config},
      {"NetworkSettings", {{"Networks", json::object()}, {"Ports", json::object()}, {"IPAddress", ""}}},
  };
}

rt::Task<void> ContainerService::wait(std::string name, std::string condition, http::ResponseWriter& w) {
  Container& c = find(name);
  http::Headers h;
  h.add("Content-Type", "application/json");
  // The CLI waits for these headers before it sends /start.
  co_await w.begin_stream(200, std::move(h));
  bool want_removed = condition == "removed";
  bool next_exit = condition == "next-exit";
  auto alive = std::make_shared<bool>(true);
  std::string id = c.id;
  if (want_removed) {
    while (!c.gone) co_await c.removed.wait();
  } else if (next_exit || c.running() || c.status == "created") {
    if (next_exit || c.status == "created") {
      // Wait for the next exit of a process that has yet to start or is running.
      co_await c.exited.wait();
      while (c.status == "running" || c.pid != 0) co_await c.exited.wait();
    } else {
      while (c.running()) co_await c.exited.wait();
    }
  }
  // The start error already reached the client through /start; docker leaves Error null here.
  json body = {{"StatusCode", c.exit_code}, {"Error", nullptr}};
  co_await w.write(body.dump() + "\n");
  co_await w.end();
}

rt::Task<void> ContainerService::attach(std::string name, api::AttachOptions opts, http::Request& req,
                                        http::ResponseWriter& w) {
  Container& c = find(name);
  bool tty = c.tty();
  http::Headers h;
  h.add("Content-Type", tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  bool upgrade = req.upgrade;
  if (upgrade) {
    h.add("Connection", "Upgrade");
    h.add("Upgrade", "tcp");
  }
  http::Hijacked hj = co_await w.hijack(upgrade ? 101 : 200, std::move(h), upgrade ? "UPGRADED" : "OK");
  Attacher a{hj.fd.get(), opts.stdout_, opts.stderr_, tty};
  c.attachers.push_back(&a);
  std::string id = c.id;
  rt::TaskScope stdin_task;
  if (opts.stdin_) {
    stdin_task.spawn([](Container& k, int fd, std::string early) -> rt::Task<void> {
      auto deliver = [](Container& ct, std::string data) -> rt::Task<bool> {
        if (ct.stdin_w) {
          long n = co_await rt::write_all(ct.stdin_w.get(), data);
          co_return n >= 0;
        }
        if (ct.status == "created") {
          ct.stdin_pending += data;  // buffered until start
          co_return true;
        }
        co_return false;
      };
      if (!early.empty() && !co_await deliver(k, std::move(early))) co_return;
      std::vector<char> buf(32 * 1024);
      for (;;) {
        int n = co_await rt::recv(fd, buf.data(), buf.size());
        if (n <= 0) break;
        if (!co_await deliver(k, std::string(buf.data(), static_cast<std::size_t>(n)))) break;
      }
      // The client closed its stdin: close the container's (docker's StdinOnce behaviour).
      if (k.status == "created") {
        k.stdin_closed = true;
      } else if (!k.tty()) {
        k.stdin_w.reset();
      }
    }(c, hj.fd.get(), std::move(hj.leftover)));
  }
  // Until the process has exited and its output is drained (or the container is gone).
  if (c.status == "created") co_await c.exited.wait();
  while (!c.gone && (c.running() || c.pid != 0 || c.status == "running")) co_await c.exited.wait();
  std::erase(c.attachers, &a);
  ::shutdown(hj.fd.get(), SHUT_RDWR);
  stdin_task.cancel();
  co_await stdin_task.join();
  (void)id;
}

rt::Task<void> ContainerService::logs(std::string name, api::LogsOptions opts, http::ResponseWriter& w) {
  Container& c = find(name);
  bool tty = c.tty();
  std::string path = c.dir + "/container.log";
  http::Headers h;
  h.add("Content-Type", tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  co_await w.begin_stream(200, std::move(h));
  Fd fd = co_await rt::offload([&path] { return Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); });
  if (!fd) {
    co_await w.end();
    co_return;
  }
  // Parse every record (the file is compact); --tail picks the last N lines.
  struct Rec {
    std::int64_t ts;
    int stream;
    std::string data;
  };
  std::uint64_t offset = 0;
  std::string pending;  // partial record bytes
  auto read_records = [](int f, std::uint64_t& off, std::string& carry) -> rt::Task<std::vector<Rec>> {
    std::vector<Rec> out;
    std::vector<char> buf(256 * 1024);
    for (;;) {
      int n = co_await rt::read(f, buf.data(), static_cast<unsigned>(buf.size()), off);
      if (n <= 0) break;
      off += static_cast<std::uint64_t>(n);
      carry.append(buf.data(), static_cast<std::size_t>(n));
    }
    std::size_t pos = 0;
    while (carry.size() - pos >= sizeof(LogHeader)) {
      LogHeader hd;
      std::memcpy(&hd, carry.data() + pos, sizeof hd);
      if (carry.size() - pos - sizeof hd < hd.len) break;
      out.push_back(Rec{hd.ts_ns, hd.stream, carry.substr(pos + sizeof hd, hd.len)});
      pos += sizeof hd + hd.len;
    }
    carry.erase(0, pos);
    co_return out;
  };
  auto emit = [](http::ResponseWriter& wr, const api::LogsOptions& o, bool raw, std::vector<Rec>& recs) -> rt::Task<void> {
    std::string outbuf;
    for (auto& r : recs) {
      if ((r.stream == kStdout && !o.stdout_) || (r.stream == kStderr && !o.stderr_)) continue;
      if (o.since > 0 && r.ts < o.since * 1'000'000'000) continue;
      if (o.until > 0 && r.ts > o.until * 1'000'000'000) continue;
      std::string payload = o.timestamps ? rfc3339_nano(r.ts) + " " + r.data : r.data;
      if (raw) {
        outbuf += payload;
      } else {
        char hdr[8] = {static_cast<char>(r.stream), 0, 0, 0};
        std::uint32_t be = htobe32(static_cast<std::uint32_t>(payload.size()));
        std::memcpy(hdr + 4, &be, 4);
        outbuf.append(hdr, 8);
        outbuf += payload;
      }
    }
    if (!outbuf.empty()) co_await wr.write(outbuf);
  };
  std::vector<Rec> recs = co_await read_records(fd.get(), offset, pending);
  // Records are raw reads from the pipe; split them into lines so --tail and timestamps work per line.
  auto split_lines = [](std::vector<Rec> in) {
    std::vector<Rec> out;
    std::string carry[3];
    std::int64_t carry_ts[3] = {0, 0, 0};
    for (auto& r : in) {
      int s = r.stream == kStderr ? 2 : 1;
      std::size_t pos = 0;
      while (pos < r.data.size()) {
        auto nl = r.data.find('\n', pos);
        if (nl == std::string::npos) {
          if (carry[s].empty()) carry_ts[s] = r.ts;
          carry[s] += r.data.substr(pos);
          break;
        }
        std::string line = carry[s] + r.data.substr(pos, nl - pos + 1);
        out.push_back(Rec{carry[s].empty() ? r.ts : carry_ts[s], r.stream, std::move(line)});
        carry[s].clear();
        pos = nl + 1;
      }
    }
    for (int s : {1, 2}) {
      if (!carry[s].empty()) out.push_back(Rec{carry_ts[s], s, carry[s]});
    }
    return out;
  };
  recs = split_lines(std::move(recs));
  if (opts.tail >= 0) {
    std::vector<Rec> kept;
    for (auto& r : recs) {
      if ((r.stream == kStdout && opts.stdout_) || (r.stream == kStderr && opts.stderr_)) kept.push_back(std::move(r));
    }
    if (kept.size() > static_cast<std::size_t>(opts.tail)) kept.erase(kept.begin(), kept.end() - opts.tail);
    recs = std::move(kept);
  }
  co_await emit(w, opts, tty, recs);
  if (opts.follow) {
    std::string id = c.id;
    while (!c.gone && (c.running() || c.status == "created")) {
      co_await c.output.wait();
      auto more = co_await read_records(fd.get(), offset, pending);
      co_await emit(w, opts, tty, more);
    }
    if (!c.gone) {
      auto more = co_await read_records(fd.get(), offset, pending);
      co_await emit(w, opts, tty, more);
    }
  }
  co_await w.end();
}

rt::Task<void> ContainerService::resize(std::string name, int h, int w) {
  Container& c = find(name);
  if (c.pty_master && h > 0 && w > 0) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(h);
    ws.ws_col = static_cast<unsigned short>(w);
    ::ioctl(c.pty_master.get(), TIOCSWINSZ, &ws);
  }
  co_return;
}

rt::Task<void> ContainerService::shutdown() {
  supervisors_.cancel();
  co_await supervisors_.join();
  // The empty <hierarchy>/bocker parents go too (one still holding a container stays).
  for (const auto& dir : cgroup_parents_) ::rmdir(dir.c_str());
}

}  // namespace bocker::daemon
