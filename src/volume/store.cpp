#include "bocker/volume/store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <random>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::volume {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json meta_json(const Volume& v) {
  return {{"Name", v.name},
          {"Driver", v.driver},
          {"Mountpoint", v.mountpoint},
          {"CreatedAt", v.created_at},
          {"Labels", v.labels},
          {"Options", v.options},
          {"Scope", "local"}};
}

std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

}  // namespace

json Volume::to_api() const {
  json j = meta_json(*this);
  return j;
}

bool valid_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 255) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  for (char c : name) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

void check_name(const std::string& name) {
  if (!valid_name(name)) {
    throw invalid(
        "create " + name + ": \"" + name +
        "\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are "
        "allowed. If you intended to pass a host directory, use absolute path");
  }
}

std::string random_name() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* hex = "0123456789abcdef";
  std::string out(64, '0');
  for (char& c : out) c = hex[rng() & 15];
  return out;
}

Store::Store(std::string root) : dir_(std::move(root) + "/volumes") {
  make_dirs(dir_, 0701);
  load();
}

void Store::load() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    std::string dir = entry.path().string();
    std::error_code e1;
    if (name.rfind(".rm-", 0) == 0) {  // a removal a crash interrupted
      fs::remove_all(dir, e1);
      continue;
    }
    if (!entry.is_directory(e1) || !valid_name(name)) continue;
    Volume v;
    v.name = name;
    v.mountpoint = dir + "/_data";
    std::error_code e2;
    if (!fs::exists(dir + "/meta.json", e2)) {
      // A create interrupted before its metadata: nothing was ever mounted from it.
      if (!fs::exists(v.mountpoint, e2) || fs::is_empty(v.mountpoint, e2)) {
        fs::remove_all(dir, e2);
        continue;
      }
      v.created_at = now_rfc3339();
      volumes_[name] = v;
      continue;
    }
    try {
      json j = json::parse(read_file(dir + "/meta.json"));
      v.driver = j.value("Driver", "local");
      v.created_at = j.value("CreatedAt", "");
      v.labels = string_map(j.value("Labels", json::object()));
      v.options = string_map(j.value("Options", json::object()));
      volumes_[name] = v;
    } catch (const std::exception&) {
      // Unreadable metadata: keep the data, show the volume with defaults.
      v.created_at = now_rfc3339();
      volumes_[name] = v;
    }
  }
}

Store::Created Store::create(std::string name, const std::map<std::string, std::string>& labels,
                             const std::map<std::string, std::string>& options, const std::string& driver) {
  if (!driver.empty() && driver != "local") {
    throw invalid("create " + name + ": volume driver \"" + driver + "\" is not supported (only \"local\")");
  }
  if (!options.empty()) {
    throw invalid("create " + name + ": driver options (" + options.begin()->first +
                  "=...) are not supported by bocker's local driver");
  }
  std::lock_guard lock(mu_);
  if (name.empty()) {
    do {
      name = random_name();
    } while (volumes_.count(name) != 0);
  }
  check_name(name);
  if (auto it = volumes_.find(name); it != volumes_.end()) return {it->second, false};

  Volume v;
  v.name = name;
  v.mountpoint = dir_ + "/" + name + "/_data";
  v.created_at = now_rfc3339();
  v.labels = labels;
  std::string dir = dir_ + "/" + name;
  try {
    if (::mkdir(dir.c_str(), 0701) < 0) throw SystemError(errno, "mkdir", dir);
    if (::mkdir(v.mountpoint.c_str(), 0755) < 0) throw SystemError(errno, "mkdir", v.mountpoint);
    write_file_atomic(dir + "/meta.json", meta_json(v).dump(), 0600);
  } catch (...) {
    std::error_code ec;
    if (fs::exists(dir + "/meta.json", ec) == false) fs::remove_all(dir, ec);
    throw;
  }
  volumes_[name] = v;
  return {v, true};
}

Volume Store::create_anonymous() { return create({}, {{kAnonymousLabel, ""}}).volume; }

std::optional<Volume> Store::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  if (auto it = volumes_.find(name); it != volumes_.end()) return it->second;
  return std::nullopt;
}

Volume Store::get(const std::string& name) const {
  auto v = find(name);
  if (!v) throw not_found("get " + name + ": no such volume");
  return *v;
}

std::vector<Volume> Store::list() const {
  std::lock_guard lock(mu_);
  std::vector<Volume> out;
  for (const auto& [n, v] : volumes_) out.push_back(v);
  return out;
}

void Store::remove(const std::string& name, bool force, const std::vector<std::string>& users) {
  std::lock_guard lock(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) {
    if (force) return;
    throw not_found("get " + name + ": no such volume");
  }
  if (!users.empty()) {
    std::string ids;
    for (const auto& u : users) ids += (ids.empty() ? "" : ", ") + u;
    throw conflict("remove " + name + ": volume is in use - [" + ids + "]");
  }
  std::string dir = dir_ + "/" + name;
  // Renamed away first: a crash halfway leaves a ".rm-" directory load() deletes, not a half volume.
  std::string doomed = dir_ + "/.rm-" + name;
  std::error_code ec;
  fs::remove_all(doomed, ec);
  if (::rename(dir.c_str(), doomed.c_str()) < 0 && errno != ENOENT) throw SystemError(errno, "rename", dir);
  volumes_.erase(it);
  fs::remove_all(doomed, ec);
  if (ec) throw SystemError(ec.value(), "remove", doomed);
}

}  // namespace bocker::volume
