#include "bocker/volume/service.hpp"
#include "bocker/api/filters.hpp"

#include <sys/stat.h>

#include <filesystem>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/offload.hpp"

namespace bocker::volume {

using nlohmann::json;

namespace {

std::map<std::string, std::string> string_map(const json& body, const char* key) {
  std::map<std::string, std::string> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_object()) throw invalid(std::string(key) + " must be an object of strings");
  for (auto kv = it->begin(); kv != it->end(); ++kv) {
    if (!kv.value().is_string()) throw invalid(std::string(key) + "." + kv.key() + " must be a string");
    out[kv.key()] = kv.value().get<std::string>();
  }
  return out;
}

std::uint64_t tree_size(const std::string& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
      n += static_cast<std::uint64_t>(st.st_size);
  }
  return n;
}

}  // namespace

bool matches(const Volume& v, const json& filters, bool in_use) {
  if (!filters.is_object()) return true;
  for (auto it = filters.begin(); it != filters.end(); ++it) {
    auto values = api::filter_values(it.value());
    if (values.empty()) continue;
    const std::string& key = it.key();
    bool any = false;
    for (const auto& val : values) {
      if (key == "name") {
        any = any || v.name.find(val) != std::string::npos;
      } else if (key == "driver") {
        any = any || v.driver == val;
      } else if (key == "label") {
        auto eq = val.find('=');
        auto l = v.labels.find(val.substr(0, eq));
        any = any || (l != v.labels.end() && (eq == std::string::npos || l->second == val.substr(eq + 1)));
      } else if (key == "dangling") {
        if (val != "true" && val != "false" && val != "1" && val != "0") {
          throw invalid("invalid filter 'dangling=" + val + "'");
        }
        bool want = val == "true" || val == "1";
        any = any || want == !in_use;
      } else if (key == "all") {
        any = true;  // prune's filter, handled by prune
      } else {
        throw invalid("invalid filter '" + key + "'");
      }
    }
    if (!any) return false;
  }
  return true;
}

rt::Task<json> Service::list(json filters) {
  json vols = json::array();
  for (const Volume& v : store_.list()) {
    if (matches(v, filters, !users_(v.name).empty())) vols.push_back(v.to_api());
  }
  co_return json{{"Volumes", vols}, {"Warnings", json::array()}};
}

rt::Task<json> Service::create(json body) {
  if (!body.is_object()) throw invalid("invalid JSON in the volume create request body");
  auto it = body.find("Name");
  std::string name;
  if (it != body.end() && !it->is_null()) {
    if (!it->is_string()) throw invalid("Name must be a string");
    name = it->get<std::string>();
  }
  std::string driver = "local";
  if (auto d = body.find("Driver"); d != body.end() && !d->is_null()) {
    if (!d->is_string()) throw invalid("Driver must be a string");
    if (!d->get<std::string>().empty()) driver = d->get<std::string>();
  }
  auto labels = string_map(body, "Labels");
  auto opts = string_map(body, "DriverOpts");
  if (!name.empty()) check_name(name);
  Store& store = store_;
  Store::Created c = co_await rt::offload(
      [&store, &name, &labels, &opts, &driver] { return store.create(name, labels, opts, driver); });
  co_return c.volume.to_api();
}

rt::Task<json> Service::inspect(std::string name) { co_return store_.get(name).to_api(); }

rt::Task<void> Service::remove(std::string name, bool force) {
  std::vector<std::string> users = users_(name);
  Store& store = store_;
  co_await rt::offload([&store, &name, force, &users] { store.remove(name, force, users); });
}

rt::Task<json> Service::prune(json filters) {
  bool all = false;
  if (filters.is_object()) {
    if (auto a = filters.find("all"); a != filters.end()) {
      for (const auto& v : api::filter_values(*a)) all = all || v == "true" || v == "1";
    }
    if (filters.contains("dangling")) throw invalid("invalid filter 'dangling' for prune");
  }
  std::vector<std::string> doomed;
  for (const Volume& v : store_.list()) {
    if (!all && !v.anonymous()) continue;
    if (!users_(v.name).empty()) continue;
    if (!matches(v, filters, false)) continue;
    doomed.push_back(v.name);
  }
  json deleted = json::array();
  std::uint64_t reclaimed = 0;
  for (const auto& n : doomed) {
    if (!users_(n).empty()) continue;  // taken by a container created meanwhile
    Store& store = store_;
    std::uint64_t size = 0;
    bool ok = co_await rt::offload([&store, &n, &size] {
      try {
        size = tree_size(store.path(n));
        store.remove(n, true, {});
        return true;
      } catch (const std::exception&) {
        return false;
      }
    });
    if (ok) {
      deleted.push_back(n);
      reclaimed += size;
    }
  }
  co_return json{{"VolumesDeleted", deleted}, {"SpaceReclaimed", reclaimed}};
}

}  // namespace bocker::volume
