// `docker commit`: the container's rootfs changes (the storage driver's diff, deletions as
// whiteouts) become a layer on top of its image's layers, registered like an imported or pulled
// layer (diff id = sha256 of the tar, layer id = chain id), and an image whose config is the
// parent's with the container's Config and the Dockerfile-style changes applied.
#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/create_spec.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/daemon/unpack.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/image/tar.hpp"
#include "bocker/registry/digest.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/offload.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

namespace {

using nlohmann::json;

std::string rfc3339_now(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string env_key(const std::string& e) { return e.substr(0, e.find('=')); }

void merge_env(json& cfg, const std::vector<std::string>& add) {
  std::vector<std::string> env;
  if (cfg.contains("Env") && cfg["Env"].is_array()) {
    for (const auto& e : cfg["Env"]) {
      if (e.is_string()) env.push_back(e.get<std::string>());
    }
  }
  for (const auto& e : add) {
    std::erase_if(env, [&e](const std::string& x) { return env_key(x) == env_key(e); });
    env.push_back(e);
  }
  cfg["Env"] = env;
}

// The image config's "config": the parent's, then the container's Config (which already holds
// the image defaults the container ran with), then the request body, then the changes.
json committed_config(json base, const json& container_cfg, const json& body, const std::vector<std::string>& changes) {
  if (!base.is_object()) base = json::object();
  static const char* kKeys[] = {"Env",     "Cmd",    "Entrypoint", "WorkingDir", "User",      "ExposedPorts",
                                "Volumes", "Labels", "StopSignal", "OnBuild",    "Healthcheck"};
  for (const json* src : {&container_cfg, &body}) {
    if (!src->is_object()) continue;
    for (const char* k : kKeys) {
      if (src->contains(k) && !(*src)[k].is_null()) base[k] = (*src)[k];
    }
    if (src->contains("Entrypoint") && (*src)["Entrypoint"].is_null() && src == &container_cfg) {
      base.erase("Entrypoint");  // the container ran without one
    }
  }
  if (!changes.empty()) {
    // import_config parses the changes (and rejects bad ones) into a config over a default PATH.
    json parsed = json::parse(import_config("sha256:" + std::string(64, '0'), changes, "", 0))["config"];
    for (const char* k : {"Cmd", "Entrypoint", "WorkingDir", "User"}) {
      if (parsed.contains(k)) base[k] = parsed[k];
    }
    std::vector<std::string> env = parsed.value("Env", std::vector<std::string>{});
    if (!env.empty()) env.erase(env.begin());  // the default PATH
    if (!env.empty()) merge_env(base, env);
    for (const char* k : {"ExposedPorts", "Volumes", "Labels"}) {
      if (!parsed.contains(k)) continue;
      if (!base.contains(k) || !base[k].is_object()) base[k] = json::object();
      for (const auto& [key, v] : parsed[k].items()) base[k][key] = v;
    }
  }
  return base;
}

}  // namespace

rt::Task<std::string> ImageService::commit(CommitSpec spec) {
  const api::CommitRequest& req = spec.req;
  // Everything the client can get wrong is checked before any work (create_spec.cpp).
  std::string ref = commit_reference(req);

  image::ImageRecord parent = images_.get(spec.parent_image_id);
  json doc = json::parse(parent.config_json, nullptr, false);
  if (!doc.is_object()) throw Error("image " + parent.id + ": config is not a JSON object");

  // The diff, spooled to a file while its digest (the diff id) is computed.
  make_dirs(opts_.root + "/tmp", 0700);
  const std::string spool = opts_.root + "/tmp/commit-" + image::random_id().substr(0, 16);
  struct Spool {
    Fd fd;
    registry::Sha256 hash;
    std::uint64_t bytes = 0;
  } sp;
  sp.fd.reset(::open(spool.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!sp.fd) throw SystemError(errno, "create", spool);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_spool{spool};
  storage::Driver& drv = *driver_;
  const std::string& cid = spec.container_id;
  co_await rt::offload([&drv, &sp, &spool, &cid] {
    image::TarWriter tw([&sp, &spool](std::span<const std::byte> data) {
      sp.hash.update(data);
      sp.bytes += data.size();
      const char* p = reinterpret_cast<const char*>(data.data());
      std::size_t left = data.size();
      while (left > 0) {
        ssize_t n = ::write(sp.fd.get(), p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError(errno, "write", spool);
        p += n;
        left -= static_cast<std::size_t>(n);
      }
    });
    drv.diff_rootfs(cid, tw);
  });
  const std::string diff_id = sp.hash.finish();

  std::vector<std::string> diff_ids = parent.diff_ids;
  const std::string parent_layer =
      diff_ids.empty() ? std::string() : std::string(image::sha256_hex(image::chain_id(diff_ids)));
  diff_ids.push_back(diff_id);
  const std::string layer_id(image::sha256_hex(image::chain_id(diff_ids)));
  co_await rt::offload([&drv, &sp, &spool, &layer_id, &parent_layer, &diff_id] {
    unpack_spooled_layer(drv, layer_id, parent_layer, sp.fd.get(), spool, registry::Compression::None, diff_id,
                         "commit");
  });

  // The image config.
  std::time_t now = std::time(nullptr);
  std::string when = rfc3339_now(now);
  doc["config"] = committed_config(doc.value("config", json::object()), spec.container_config, req.config, req.changes);
  doc["created"] = when;
  doc["container"] = spec.container_id;
  if (!req.author.empty()) doc["author"] = req.author;
  if (!doc.contains("rootfs") || !doc["rootfs"].is_object()) doc["rootfs"] = {{"type", "layers"}};
  doc["rootfs"]["diff_ids"] = diff_ids;
  if (!doc.contains("history") || !doc["history"].is_array()) doc["history"] = json::array();
  std::string created_by;
  for (const char* k : {"Entrypoint", "Cmd"}) {
    if (!spec.container_config.contains(k) || !spec.container_config[k].is_array()) continue;
    for (const auto& a : spec.container_config[k]) created_by += (created_by.empty() ? "" : " ") + a.get<std::string>();
  }
  json hist = {{"created", when}, {"created_by", created_by}};
  if (!req.author.empty()) hist["author"] = req.author;
  if (!req.comment.empty()) hist["comment"] = req.comment;
  doc["history"].push_back(hist);

  image::ImageRecord rec;
  rec.config_json = doc.dump();
  rec.id = registry::sha256_digest(rec.config_json);
  rec.diff_ids = diff_ids;
  rec.created = static_cast<std::int64_t>(now);
  rec.size = parent.size + static_cast<std::int64_t>(sp.bytes);
  if (!ref.empty()) rec.repo_tags = {ref};
  image::ImageStore& store = images_;
  co_await rt::offload([&store, &rec] { store.put(rec); });
  co_return rec.id;
}

rt::Task<std::string> ContainerService::commit(api::CommitRequest req) {
  Container& c = find(req.container);
  if (c.status == "removing") throw conflict("container " + c.id.substr(0, 12) + " is being removed");
  CommitSpec spec;
  spec.container_id = c.id;
  spec.parent_image_id = c.image_id;
  spec.container_config = c.config;
  spec.req = std::move(req);
  co_return co_await images_.commit(std::move(spec));
}

}  // namespace bocker::daemon
