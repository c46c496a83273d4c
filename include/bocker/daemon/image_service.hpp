// The engine's images: pull (parallel, streamed, resumable), import, list, inspect, tag, remove.
// Composes the registry client, the content and image stores and the storage driver; the loop
// thread only schedules: hashing, inflating, extracting and every fsync run on the worker pool.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bocker/api/backend.hpp"
#include "bocker/image/content_store.hpp"
#include "bocker/image/image_store.hpp"
#include "bocker/registry/image_config.hpp"
#include "bocker/runtime/task.hpp"
#include "bocker/storage/driver.hpp"

namespace bocker::metrics {
struct EngineMetrics;
}
namespace bocker::registry {
class CurlLoop;
class RegistryClient;
}  // namespace bocker::registry

namespace bocker::daemon {

struct ImageServiceOptions {
  std::string root;            // daemon root: content/, images/, storage/ live below it
  std::string storage_driver;  // "", "btrfs", "overlay2"
  std::vector<std::string> insecure_registries;  // hosts spoken to over plain HTTP (plus localhost/127.x)
  unsigned max_concurrent_downloads = 4;
  std::string ca_file;  // extra CA bundle for registries
};

// A container's changes to become an image (image_commit.cpp).
struct CommitSpec {
  std::string container_id;        // whose rootfs the storage driver diffs
  std::string parent_image_id;     // the container's image
  nlohmann::json container_config;  // the container's Config (Env, Cmd, Entrypoint, ...)
  api::CommitRequest req;
};

class ImageService final : public api::ImageBackend {
 public:
  // Blocking: opens the stores and the storage driver (removes incomplete layers).
  explicit ImageService(ImageServiceOptions opts);
  ~ImageService() override;

  rt::Task<void> pull(api::PullRequest req, api::ProgressFn progress) override;
  rt::Task<std::string> import(http::BodyStream& body, api::ImportRequest req, api::ProgressFn progress) override;
  rt::Task<nlohmann::json> list(bool all) override;
  rt::Task<nlohmann::json> inspect(std::string name) override;
  rt::Task<nlohmann::json> remove(std::string name, bool force, bool prune) override;
  rt::Task<void> tag(std::string name, std::string repo, std::string tag) override;
  int count() const override;
  std::string driver_name() const override;

  storage::Driver& driver() noexcept { return *driver_; }
  image::ImageStore& images() noexcept { return images_; }
  image::ContentStore& content() noexcept { return content_; }
  // Set by the container service: is an image used by a container (rmi refuses unless forced)?
  std::function<bool(const std::string& image_id)> image_in_use;
  // Awaited before an image is removed: the containers' pending cleanups (a --rm rootfs).
  std::function<rt::Task<void>()> settle_containers;
  // Set by the daemon: pulls and layer bytes are counted there (null: not measured).
  const metrics::EngineMetrics* engine_metrics = nullptr;
  // A new layer from the container's rootfs changes on top of its image's layers, and an image
  // with the container's config (plus req.changes); tagged req.repo:req.tag. Returns the image id.
  // Errors: kInvalid (reference, changes) before any work; kNotFound (parent image gone).
  rt::Task<std::string> commit(CommitSpec spec);
  // Stops registry transfers (cancels their sockets); call on the loop thread before shutdown.
  void shutdown();

 private:
  struct PullJob;
  // plain_http: talk http:// (only ever for insecure() hosts, after https failed to connect).
  registry::RegistryClient& client_for(const std::string& domain, const std::string& auth_header, bool plain_http);
  bool insecure(const std::string& host) const;
  rt::Task<void> free_layers(std::vector<std::string> chain_ids);

  ImageServiceOptions opts_;
  image::ContentStore content_;
  image::ImageStore images_;
  std::unique_ptr<storage::Driver> driver_;
  std::unique_ptr<registry::CurlLoop> curl_;
  std::map<std::string, std::unique_ptr<registry::RegistryClient>> clients_;
  std::set<std::string> plain_http_hosts_;  // insecure hosts found not to speak TLS
};

// Builds the image config of an imported root filesystem (changes: "CMD ...", "ENV A=b", ...).
std::string import_config(const std::string& diff_id, const std::vector<std::string>& changes,
                          const std::string& message, std::int64_t created);

}  // namespace bocker::daemon
