#include "bocker/registry/image_config.hpp"

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"
#include "json_util.hpp"

namespace bocker::registry {
namespace {

using detail::expect_string;
using detail::member;
using nlohmann::json;

constexpr std::size_t kMaxConfigBytes = 64 * 1024 * 1024;
const std::string kWhat = "image config: ";

// Optional string member; null counts as absent.
std::string opt_string(const json& obj, const char* key, const std::string& prefix) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return {};
  return expect_string(*v, kWhat + prefix + key);
}

std::vector<std::string> opt_string_array(const json& obj, const char* key, const std::string& prefix) {
  std::vector<std::string> out;
  const json* v = member(obj, key);
  if (!v || v->is_null()) return out;
  std::string field = kWhat + prefix + key;
  if (!v->is_array()) throw invalid(field + " must be an array of strings, not " + v->type_name());
  out.reserve(v->size());
  for (std::size_t i = 0; i < v->size(); ++i) {
    out.push_back(expect_string((*v)[i], field + "[" + std::to_string(i) + "]"));
  }
  return out;
}

// {"80/tcp": {}, ...} -> sorted keys; the values must be objects (or null, as some builders write).
std::vector<std::string> opt_key_set(const json& obj, const char* key, const std::string& prefix) {
  std::vector<std::string> out;
  const json* v = member(obj, key);
  if (!v || v->is_null()) return out;
  std::string field = kWhat + prefix + key;
  if (!v->is_object()) throw invalid(field + " must be an object, not " + v->type_name());
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_object() && !it.value().is_null()) {
      throw invalid(field + "[\"" + it.key() + "\"] must be an object, not " + it.value().type_name());
    }
    if (it.key().empty()) throw invalid(field + " has an empty key");
    out.push_back(it.key());
  }
  return out;  // nlohmann's object map is ordered by key already
}

void check_exposed_port(const std::string& port) {
  // "80", "80/tcp", "53/udp", "132/sctp"
  std::size_t slash = port.find('/');
  std::string_view num = std::string_view(port).substr(0, slash);
  bool digits = !num.empty() && num.size() <= 5 &&
                std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoul(std::string(num)) > 65535) {
    throw invalid(kWhat + "config.ExposedPorts: invalid port \"" + port + "\"");
  }
  if (slash != std::string::npos) {
    std::string_view proto = std::string_view(port).substr(slash + 1);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") {
      throw invalid(kWhat + "config.ExposedPorts: invalid protocol in \"" + port + "\" (tcp, udp or sctp)");
    }
  }
}

}  // namespace

ImageConfig parse_image_config(std::string_view body) {
  if (body.size() > kMaxConfigBytes) {
    throw invalid(kWhat + "document is too large: " + std::to_string(body.size()) + " bytes");
  }
  json doc = detail::parse_json(body, "image config");
  if (!doc.is_object()) throw invalid(kWhat + "document must be a JSON object, not " + doc.type_name());

  ImageConfig c;
  c.architecture = opt_string(doc, "architecture", "");
  c.os = opt_string(doc, "os", "");
  c.variant = opt_string(doc, "variant", "");
  c.created = opt_string(doc, "created", "");

  if (const json* cfg = member(doc, "config"); cfg && !cfg->is_null()) {
    if (!cfg->is_object()) throw invalid(kWhat + "config must be an object, not " + cfg->type_name());
    const std::string p = "config.";
    c.env = opt_string_array(*cfg, "Env", p);
    for (std::size_t i = 0; i < c.env.size(); ++i) {
      if (c.env[i].empty() || c.env[i].front() == '=') {
        throw invalid(kWhat + "config.Env[" + std::to_string(i) + "]: want NAME=VALUE, got \"" + c.env[i] +
                      "\"");
      }
    }
    c.cmd = opt_string_array(*cfg, "Cmd", p);
    c.entrypoint = opt_string_array(*cfg, "Entrypoint", p);
    c.working_dir = opt_string(*cfg, "WorkingDir", p);
    c.user = opt_string(*cfg, "User", p);
    c.stop_signal = opt_string(*cfg, "StopSignal", p);
    c.exposed_ports = opt_key_set(*cfg, "ExposedPorts", p);
    for (const auto& port : c.exposed_ports) check_exposed_port(port);
    c.volumes = opt_key_set(*cfg, "Volumes", p);
    if (const json* labels = member(*cfg, "Labels"); labels && !labels->is_null()) {
      if (!labels->is_object())
        throw invalid(kWhat + "config.Labels must be an object, not " + labels->type_name());
      for (auto it = labels->begin(); it != labels->end(); ++it) {
        c.labels[it.key()] = expect_string(it.value(), kWhat + "config.Labels[\"" + it.key() + "\"]");
      }
    }
  }

  const json* rootfs = member(doc, "rootfs");
  if (!rootfs) throw invalid(kWhat + "rootfs is missing");
  if (!rootfs->is_object()) throw invalid(kWhat + "rootfs must be an object, not " + rootfs->type_name());
  const json* type = member(*rootfs, "type");
  if (!type) throw invalid(kWhat + "rootfs.type is missing");
  std::string t = expect_string(*type, kWhat + "rootfs.type");
  if (t != "layers") throw invalid(kWhat + "rootfs.type must be \"layers\", not \"" + t.substr(0, 64) + "\"");
  c.diff_ids = opt_string_array(*rootfs, "diff_ids", "rootfs.");
  for (std::size_t i = 0; i < c.diff_ids.size(); ++i) {
    if (std::string why; !is_valid_digest(c.diff_ids[i], &why)) {
      throw invalid(kWhat + "rootfs.diff_ids[" + std::to_string(i) + "]: invalid digest \"" +
                    c.diff_ids[i].substr(0, 160) + "\": " + why);
    }
  }
  return c;
}

json to_json(const ImageConfig& c) {
  json doc = json::object();
  if (!c.architecture.empty()) doc["architecture"] = c.architecture;
  if (!c.os.empty()) doc["os"] = c.os;
  if (!c.variant.empty()) doc["variant"] = c.variant;
  if (!c.created.empty()) doc["created"] = c.created;
  json cfg = json::object();
  if (!c.env.empty()) cfg["Env"] = c.env;
  if (!c.cmd.empty()) cfg["Cmd"] = c.cmd;
  if (!c.entrypoint.empty()) cfg["Entrypoint"] = c.entrypoint;
  if (!c.working_dir.empty()) cfg["WorkingDir"] = c.working_dir;
  if (!c.user.empty()) cfg["User"] = c.user;
  if (!c.stop_signal.empty()) cfg["StopSignal"] = c.stop_signal;
  if (!c.exposed_ports.empty()) {
    json ports = json::object();
    for (const auto& p : c.exposed_ports) ports[p] = json::object();
    cfg["ExposedPorts"] = std::move(ports);
  }
  if (!c.volumes.empty()) {
    json vols = json::object();
    for (const auto& v : c.volumes) vols[v] = json::object();
    cfg["Volumes"] = std::move(vols);
  }
  if (!c.labels.empty()) cfg["Labels"] = c.labels;
  doc["config"] = std::move(cfg);
  doc["rootfs"] = {{"type", "layers"}, {"diff_ids", c.diff_ids}};
  return doc;
}

}  // namespace bocker::registry
