// Helpers shared by the container_*.cpp files.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <csignal>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

using Clock = std::chrono::system_clock;


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

static const char* kAdjectives[] = {"admiring", "brave", "clever", "dazzling", "eager", "festive", "gallant", "happy",
                             "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "quirky", "relaxed",
                             "serene", "tender", "upbeat", "vibrant", "wizardly", "zealous"};
static const char* kNames[] = {"turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "dijkstra",
                        "liskov", "hamilton", "kernighan", "pike", "wirth", "backus", "mccarthy", "shannon",
                        "babbage", "noether", "curie", "tesla", "bohr", "fermi"};

int parse_signal(std::string s) {
  if (s.empty()) return SIGKILL;
  bool digits = std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    if (s.size() > 2) throw invalid("invalid signal: " + s);  // and std::stoi cannot overflow
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

Pipe Pipe::make(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw SystemError(errno, "pipe2", what);
  Pipe p;
  p.r.reset(fds[0]);
  p.w.reset(fds[1]);
  return p;
}

std::string random_container_name(bool (*taken)(const void*, const std::string&), const void* ctx) {
  std::mt19937 rng(std::random_device{}());
  std::string name;
  do {
    name = std::string(kAdjectives[rng() % std::size(kAdjectives)]) + "_" + kNames[rng() % std::size(kNames)];
    if (taken(ctx, name)) name += "_" + std::to_string(rng() % 100);
  } while (taken(ctx, name));
  return name;
}

}  // namespace bocker::daemon
