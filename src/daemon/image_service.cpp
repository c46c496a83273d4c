#include "bocker/daemon/image_service.hpp"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "bocker/api/system.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/unpack.hpp"
#include "bocker/http/server.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/registry/client.hpp"
#include "bocker/registry/curl_loop.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/runtime/offload.hpp"

namespace bocker::daemon {

namespace {

std::string rfc3339(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string familiar(const std::string& canonical) {
  try {
    return registry::parse_reference(canonical).familiar();
  } catch (const Error&) {
    return canonical;
  }
}

// "CMD [\"a\",\"b\"]" / "CMD a b" -> ["a","b"] / ["/bin/sh","-c","a b"].
nlohmann::json command_value(const std::string& v) {
  if (!v.empty() && v.front() == '[') {
    auto j = nlohmann::json::parse(v, nullptr, false);
    if (j.is_array()) {
      for (const auto& e : j) {
        if (!e.is_string()) throw invalid("change value must be a JSON array of strings: " + v);
      }
      return j;
    }
    throw invalid("change value is not valid JSON: " + v);
  }
  return nlohmann::json::array({"/bin/sh", "-c", v});
}

std::string host_arch() {
  utsname u{};
  return ::uname(&u) == 0 ? api::go_arch(u.machine) : std::string("amd64");
}

std::int64_t now_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

std::string import_config(const std::string& diff_id, const std::vector<std::string>& changes,
                          const std::string& message, std::int64_t created) {
  nlohmann::json cfg = {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}};
  for (const std::string& change : changes) {
    auto sp = change.find_first_of(" \t");
    std::string op = change.substr(0, sp);
    std::string val = sp == std::string::npos ? std::string() : change.substr(change.find_first_not_of(" \t", sp));
    for (auto& c : op) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (val.empty()) throw invalid("change \"" + change + "\" has no value");
    if (op == "CMD") {
      cfg["Cmd"] = command_value(val);
    } else if (op == "ENTRYPOINT") {
      cfg["Entrypoint"] = command_value(val);
    } else if (op == "ENV") {
      auto eq = val.find('=');
      if (eq == std::string::npos) {
        auto s = val.find(' ');
        if (s == std::string::npos) throw invalid("ENV needs NAME=VALUE: " + change);
        val = val.substr(0, s) + "=" + val.substr(s + 1);
      }
      cfg["Env"].push_back(val);
    } else if (op == "WORKDIR") {
      cfg["WorkingDir"] = val;
    } else if (op == "USER") {
      cfg["User"] = val;
    } else if (op == "EXPOSE") {
      std::string port = val.find('/') == std::string::npos ? val + "/tcp" : val;
      cfg["ExposedPorts"][port] = nlohmann::json::object();
    } else if (op == "VOLUME") {
      cfg["Volumes"][val] = nlohmann::json::object();
    } else if (op == "LABEL") {
      auto eq = val.find('=');
      if (eq == std::string::npos) throw invalid("LABEL needs KEY=VALUE: " + change);
      cfg["Labels"][val.substr(0, eq)] = val.substr(eq + 1);
    } else {
      throw invalid("change \"" + op + "\" is not supported (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL)");
    }
  }
  std::string when = rfc3339(created);
  nlohmann::json doc = {
      {"architecture", host_arch()},
      {"os", "linux"},
      {"created", when},
      {"config", cfg},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
      {"history", {{{"created", when}, {"created_by", "bocker import"}, {"comment", message}}}},
  };
  return doc.dump();
}

namespace {
// BOCKER_REGISTRY_CA_FILE (hidden, for tests and private CAs): a PEM bundle trusted for registries
// in addition to the system store, unless the options name one.
ImageServiceOptions with_env_defaults(ImageServiceOptions o) {
  if (const char* ca = std::getenv("BOCKER_REGISTRY_CA_FILE"); o.ca_file.empty() && ca != nullptr) o.ca_file = ca;
  return o;
}
}  // namespace

ImageService::ImageService(ImageServiceOptions opts)
    : opts_(with_env_defaults(std::move(opts))),
      content_(opts_.root),
      images_(opts_.root, [](const std::string& w) { log_line("images: " + w); }),
      driver_(storage::open_driver(opts_.root + "/storage", opts_.storage_driver)) {
  driver_->cleanup_incomplete();
}

ImageService::~ImageService() = default;

void ImageService::shutdown() {
  clients_.clear();
  curl_.reset();
}

int ImageService::count() const { return static_cast<int>(images_.count()); }
std::string ImageService::driver_name() const { return driver_->name(); }

bool ImageService::insecure(const std::string& host) const {
  std::string h = host.substr(0, host.rfind(':') == std::string::npos || host.back() == ']' ? host.size() : host.rfind(':'));
  if (h == "localhost" || h.rfind("127.", 0) == 0 || h == "[::1]") return true;
  for (const auto& r : opts_.insecure_registries) {
    if (r == host || r == h) return true;
  }
  return false;
}

registry::RegistryClient& ImageService::client_for(const std::string& domain, const std::string& auth_header,
                                                  bool plain_http) {
  if (!curl_) curl_ = std::make_unique<registry::CurlLoop>();
  std::string host = registry::registry_api_host(domain);
  std::string key = std::string(plain_http ? "http" : "https") + "\n" + host + "\n" + auth_header;
  auto it = clients_.find(key);
  if (it != clients_.end()) return *it->second;
  registry::ClientOptions o;
  o.insecure = plain_http;
  o.verify_blobs = false;  // the pull's LayerUnpacker hashes every layer on a worker thread
  o.ca_file = opts_.ca_file;
  if (!auth_header.empty()) {
    registry::RegistryAuth auth = registry::decode_registry_auth(auth_header);
    auto creds = auth.credentials;
    o.credentials = [creds, host](const std::string& h) -> std::optional<registry::Credentials> {
      if (!creds.username.empty() || !creds.password.empty()) return creds;
      return registry::load_docker_credentials(h.empty() ? host : h);
    };
  }
  auto client = std::make_unique<registry::RegistryClient>(*curl_, host, o);
  return *clients_.emplace(key, std::move(client)).first->second;
}

rt::Task<std::string> ImageService::import(http::BodyStream& body, api::ImportRequest req, api::ProgressFn progress) {
  std::string ref;
  if (!req.repo.empty()) {
    registry::Reference r = registry::parse_reference(req.repo + (req.tag.empty() ? "" : ":" + req.tag));
    if (!r.digest.empty()) throw invalid("cannot import to a digest reference: " + req.repo);
    ref = r.str();
  }
  // Validate the changes before any work.
  (void)import_config("sha256:" + std::string(64, '0'), req.changes, req.message, 0);

  // Pass 1, as the body arrives: spool it to a temp file and compute its diff id (the digest of
  // the uncompressed tar), which names the layer. Pass 2: unpack the spooled file into the layer.
  make_dirs(opts_.root + "/tmp", 0700);
  const std::string spool = opts_.root + "/tmp/import-" + image::random_id().substr(0, 16);
  struct Spool {
    Fd fd;
    std::unique_ptr<image::Decompressor> inflate;
    registry::Sha256 tar_hash;
    std::uint64_t tar_bytes = 0;
  } sp;
  sp.fd.reset(::open(spool.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!sp.fd) throw SystemError(errno, "create", spool);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_spool{spool};
  for (;;) {
    std::string chunk = co_await body.read();
    if (chunk.empty()) break;
    co_await rt::offload([&sp, &chunk, &spool] {
      auto bytes = std::as_bytes(std::span(chunk.data(), chunk.size()));
      if (!sp.inflate) sp.inflate = image::make_decompressor(image::detect_compression(bytes));
      sp.inflate->feed(bytes, [&sp](std::span<const std::byte> tar) {
        sp.tar_hash.update(tar);
        sp.tar_bytes += tar.size();
      });
      std::string_view rest = chunk;
      while (!rest.empty()) {
        ssize_t n = ::write(sp.fd.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError(errno, "write", spool);
        rest.remove_prefix(static_cast<std::size_t>(n));
      }
    });
  }
  if (!sp.inflate) throw invalid("import: the request body is empty: send a tarball of a root filesystem");
  co_await rt::offload([&sp] { sp.inflate->finish(); });
  const std::string diff_id = sp.tar_hash.finish();
  const std::string layer_id(image::sha256_hex(diff_id));  // a base layer's chain id is its diff id
  storage::Driver& drv = *driver_;
  image::ExtractStats stats = co_await rt::offload([&drv, &sp, &layer_id, &diff_id, &spool] {
    return unpack_spooled_layer(drv, layer_id, "", sp.fd.get(), spool, std::nullopt, diff_id, "import");
  });

  std::int64_t created = now_seconds();
  image::ImageRecord rec;
  rec.config_json = import_config(diff_id, req.changes, req.message, created);
  rec.id = registry::sha256_digest(rec.config_json);
  rec.diff_ids = {diff_id};
  rec.created = created;
  rec.size = static_cast<std::int64_t>(sp.tar_bytes);
  if (!ref.empty()) rec.repo_tags = {ref};
  image::ImageStore& store = images_;
  co_await rt::offload([&store, &rec] { store.put(rec); });
  progress({{"status", "Imported " + std::to_string(stats.entries) + " entries, " + std::to_string(sp.tar_bytes) +
                           " bytes"}});
  co_return rec.id;
}

rt::Task<nlohmann::json> ImageService::list(bool /*all*/) {
  nlohmann::json out = nlohmann::json::array();
  for (const image::ImageRecord& r : images_.list()) {
    nlohmann::json tags = nlohmann::json::array();
    for (const auto& t : r.repo_tags) tags.push_back(familiar(t));
    nlohmann::json digests = nlohmann::json::array();
    for (const auto& d : r.repo_digests) digests.push_back(familiar(d));
    nlohmann::json labels = nlohmann::json::object();
    try {
      auto cfg = registry::parse_image_config(r.config_json);
      for (const auto& [k, v] : cfg.labels) labels[k] = v;
    } catch (const Error&) {
    }
    out.push_back({{"Id", r.id},
                   {"ParentId", ""},
                   {"RepoTags", tags},
                   {"RepoDigests", digests},
                   {"Created", r.created},
                   {"Size", r.size},
                   {"SharedSize", -1},
                   {"VirtualSize", r.size},
                   {"Labels", labels},
                   {"Containers", -1}});
  }
  co_return out;
}

rt::Task<nlohmann::json> ImageService::inspect(std::string name) {
  std::string id = images_.resolve(name);
  image::ImageRecord r = images_.get(id);
  nlohmann::json cfg = nlohmann::json::parse(r.config_json, nullptr, false);
  if (!cfg.is_object()) cfg = nlohmann::json::object();
  nlohmann::json tags = nlohmann::json::array();
  for (const auto& t : r.repo_tags) tags.push_back(familiar(t));
  nlohmann::json digests = nlohmann::json::array();
  for (const auto& d : r.repo_digests) digests.push_back(familiar(d));
  co_return nlohmann::json{
      {"Id", r.id},
      {"RepoTags", tags},
      {"RepoDigests", digests},
      {"Parent", ""},
      {"Comment", ""},
      {"Created", cfg.value("created", rfc3339(r.created))},
      {"DockerVersion", ""},
      {"Author", cfg.value("author", "")},
      {"Config", cfg.contains("config") ? cfg["config"] : nlohmann::json::object()},
      {"Architecture", cfg.value("architecture", "")},
      {"Os", cfg.value("os", "linux")},
      {"Size", r.size},
      {"VirtualSize", r.size},
      {"GraphDriver", {{"Name", driver_->name()}, {"Data", nullptr}}},
      {"RootFS", {{"Type", "layers"}, {"Layers", r.diff_ids}}},
      {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}},
  };
}

rt::Task<void> ImageService::free_layers(std::vector<std::string> chain_ids) {
  storage::Driver& drv = *driver_;
  // Children before parents.
  for (auto it = chain_ids.rbegin(); it != chain_ids.rend(); ++it) {
    std::string layer(image::sha256_hex(*it));
    try {
      co_await rt::offload([&drv, &layer] {
        if (drv.has_layer(layer)) drv.remove_layer(layer);
      });
    } catch (const std::exception& e) {
      log_line("rmi: cannot free layer " + layer + ": " + e.what());
    }
  }
}

rt::Task<nlohmann::json> ImageService::remove(std::string name, bool force, bool prune) {
  if (settle_containers) co_await settle_containers();
  std::string id = images_.resolve(name);
  image::ImageRecord r = images_.get(id);
  nlohmann::json out = nlohmann::json::array();
  // A name that is one of the image's tags only untags, unless it is the last tag.
  std::string canonical;
  try {
    auto ref = registry::parse_reference(name);
    if (ref.digest.empty()) canonical = ref.str();
  } catch (const Error&) {
  }
  bool by_tag = !canonical.empty() && std::find(r.repo_tags.begin(), r.repo_tags.end(), canonical) != r.repo_tags.end();
  bool used = image_in_use && image_in_use(id);
  image::ImageStore& store = images_;
  if (by_tag && (r.repo_tags.size() > 1 || (used && !force))) {
    co_await rt::offload([&store, &canonical] { store.untag(canonical); });
    out.push_back({{"Untagged", familiar(canonical)}});
    co_return out;
  }
  if (!by_tag && r.repo_tags.size() > 1 && !force) {
    throw conflict("conflict: unable to delete " + image::short_id(id) +
                   " (must be forced) - image is referenced in multiple repositories");
  }
  if (used && !force) {
    throw conflict("conflict: unable to delete " + image::short_id(id) + " (cannot be forced) - image is being used by a container");
  }
  for (const auto& t : r.repo_tags) out.push_back({{"Untagged", familiar(t)}});
  for (const auto& d : r.repo_digests) out.push_back({{"Untagged", familiar(d)}});
  if (used) {
    // Forced while a container uses it: drop the names, keep the image (as docker does).
    co_await rt::offload([&store, &r] {
      for (const auto& t : r.repo_tags) store.untag(t);
    });
    co_return out;
  }
  std::vector<std::string> unused = co_await rt::offload([&store, &id] { return store.remove(id); });
  out.push_back({{"Deleted", id}});
  if (prune) co_await free_layers(std::move(unused));
  co_return out;
}

rt::Task<void> ImageService::tag(std::string name, std::string repo, std::string tag) {
  std::string id = images_.resolve(name);
  if (repo.empty()) throw invalid("repository name must not be empty");
  std::string ref = repo + (tag.empty() ? "" : ":" + tag);
  image::ImageStore& store = images_;
  co_await rt::offload([&store, &id, &ref] { store.tag(id, ref); });
}

}  // namespace bocker::daemon
