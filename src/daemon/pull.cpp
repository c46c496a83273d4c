// ImageService::pull: manifest and config first, then every missing layer downloaded in
// parallel (max_concurrent_downloads) and unpacked while it downloads: curl delivers bytes on
// the loop thread, a per-layer queue hands them to worker-pool jobs that hash, inflate and
// extract them. btrfs layers are snapshots of their parent, so they unpack in order (later
// layers keep downloading meanwhile); overlay layers are independent and unpack in parallel.
// A failure cancels every transfer and removes every layer this pull began; layers already
// committed stay, so pulling again resumes where it stopped.
//
// Durability: layers are committed unsynced (their content may still be only in the page cache;
// the extractor has already started writing it out) and the pull ends with one sync_layers() of
// its top layer: one syncfs for the whole image instead of one per layer. The image record is
// written only after that returned, so a record never names a layer that a crash could lose.
// After a crash, storage's cleanup_incomplete() keeps (and syncs) the unsynced layers when the
// machine did not reboot, so a resumed pull reuses them, and removes them when it did.
#include <chrono>
#include <deque>

#include "bocker/daemon/daemon.hpp"
#include "bocker/daemon/image_service.hpp"
#include "bocker/daemon/unpack.hpp"
#include "bocker/image/ids.hpp"
#include "bocker/metrics/container_collector.hpp"
#include "bocker/registry/client.hpp"
#include "bocker/registry/manifest.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/event.hpp"
#include "bocker/runtime/offload.hpp"
#include "bocker/runtime/scope.hpp"

namespace bocker::daemon {

namespace {

constexpr std::size_t kBatchBytes = 4 << 20;  // bytes handed to one worker job at most
// Downloaded bytes are queued in pieces of about this size: fewer, larger inflate calls and
// file writes than curl's delivery size would give.
constexpr std::size_t kPieceBytes = 256 << 10;
// A layer that is extracting pauses its download while this much is queued: memory stays
// bounded (and is reused) when the registry is faster than extraction.
constexpr std::size_t kMaxQueued = 8 << 20;
constexpr std::size_t kMaxSpare = 128;  // recycled pieces kept by a pull

struct Layer {
  std::size_t index = 0;
  registry::Descriptor desc;
  std::string diff_id;
  std::string layer_id;   // hex of the chain id: the storage driver's key
  std::string parent_id;  // "" for the base layer
  std::string short_id;   // 12 hex of the blob digest, as docker shows it
  bool exists = false;

  std::deque<std::string> queue;  // downloaded, not yet unpacked
  std::size_t queued = 0;         // bytes in `queue`
  registry::FlowControl flow;     // pauses the download while the queue is full
  Fd dir;                         // begun ahead by begin_all (overlay2), until unpack_layer takes it
  std::int64_t downloaded = 0;
  std::int64_t fed = 0;
  std::int64_t reported_download = 0;
  std::int64_t reported_extract = 0;
  bool download_done = false;
  rt::Event wake;        // bytes arrived or the download ended
  rt::Event committed;   // the layer is in storage (its child waits for this)
  rt::Event begun_ev;    // the layer's directory exists (an overlay2 child may begin then)
  bool is_begun = false;
  bool is_committed = false;
  bool begun = false;
};

struct Job {
  ImageService* svc = nullptr;
  const metrics::EngineMetrics* metrics = nullptr;  // null: not measured
  registry::RegistryClient* client = nullptr;
  std::string repo;
  std::deque<Layer> layers;  // stable addresses: tasks hold references
  api::ProgressFn progress;
  std::exception_ptr error;
  rt::TaskScope* scope = nullptr;
  std::size_t next_download = 0;
  std::vector<std::string> spare;  // empty pieces with kPieceBytes capacity, for reuse

  std::string piece() {
    std::string s;
    if (!spare.empty()) {
      s = std::move(spare.back());
      spare.pop_back();
    } else {
      s.reserve(kPieceBytes);
    }
    return s;
  }
  void recycle(std::string&& s) {
    if (spare.size() >= kMaxSpare || s.capacity() < kPieceBytes) return;
    s.clear();
    spare.push_back(std::move(s));
  }

  void fail(std::exception_ptr e) {
    if (!error) error = e;
    scope->cancel();
    for (auto& l : layers) {
      l.wake.set();
      l.committed.set();
      l.begun_ev.set();
    }
  }
  void say(const Layer& l, const std::string& status) { progress({{"status", status}, {"progressDetail", nlohmann::json::object()}, {"id", l.short_id}}); }
  void say_progress(const Layer& l, const std::string& status, std::int64_t current) {
    progress({{"status", status},
              {"progressDetail", {{"current", current}, {"total", l.desc.size}}},
              {"id", l.short_id}});
  }
};

bool worth_reporting(std::int64_t now, std::int64_t last, std::int64_t total) {
  std::int64_t step = std::max<std::int64_t>(total / 50, 512 * 1024);
  return now - last >= step;
}

// Downloads layers from the shared queue until none is left.
rt::Task<void> download_worker(Job& job) {
  while (!job.error) {
    std::size_t i = job.next_download;
    while (i < job.layers.size() && job.layers[i].exists) ++i;
    if (i >= job.layers.size()) co_return;
    job.next_download = i + 1;
    Layer& l = job.layers[i];
    registry::BlobSink sink;
    sink.write = [&job, &l](std::span<const std::byte> data) {
      if (l.queue.empty() || l.queue.back().size() + data.size() > kPieceBytes) {
        l.queue.push_back(job.piece());
      }
      l.queue.back().append(reinterpret_cast<const char*>(data.data()), data.size());
      l.queued += data.size();
      // Only a layer that is extracting waits for its queue to drain; one waiting for its parent
      // (btrfs) keeps downloading, so a slow network stays busy.
      if (l.is_begun && l.queued >= kMaxQueued) l.flow.pause();
      l.downloaded += static_cast<std::int64_t>(data.size());
      if (job.metrics != nullptr) {
        job.metrics->layer_download_bytes->Increment(static_cast<double>(data.size()));
      }
      if (worth_reporting(l.downloaded, l.reported_download, l.desc.size)) {
        l.reported_download = l.downloaded;
        job.say_progress(l, "Downloading", l.downloaded);
      }
      l.wake.set();
    };
    sink.reset = [&l]() {
      if (l.fed > 0) throw Error("the registry restarted blob " + l.desc.digest + " from byte 0 after a dropped connection");
      l.queue.clear();
      l.queued = 0;
      l.downloaded = 0;
    };
    sink.flow = &l.flow;
    try {
      co_await job.client->get_blob(job.repo, l.desc.digest, std::move(sink), 0);
    } catch (...) {
      job.fail(std::current_exception());
      co_return;
    }
    l.download_done = true;
    job.say(l, "Download complete");
    l.wake.set();
  }
}

// Unpacks one layer as its bytes arrive; waits for its parent first when `ordered`.
rt::Task<void> unpack_layer(Job& job, Layer& l, Layer* parent, bool ordered) {
  storage::Driver& drv = job.svc->driver();
  try {
    if (parent != nullptr) {
      if (ordered) {
        while (!parent->is_committed && !job.error) co_await parent->committed.wait();
      } else {
        while (!parent->is_begun && !parent->is_committed && !job.error) co_await parent->begun_ev.wait();
      }
    }
    if (job.error) co_return;
    const std::string id = l.layer_id;
    const std::string parent_id = l.parent_id;
    Fd dir;
    if (l.is_begun) {
      dir = std::move(l.dir);  // begin_all did it
    } else {
      dir = co_await rt::offload([&drv, &id, &parent_id] { return drv.begin_layer(id, parent_id); });
      l.begun = true;
      l.is_begun = true;
      l.begun_ev.set();
    }
    auto compression = registry::layer_compression(l.desc.media_type);
    auto up = std::make_unique<LayerUnpacker>(dir.get(), drv.whiteout_mode(), compression);
    // A failure to inflate or extract is only reported once the whole blob has been hashed: a
    // corrupt download then says "failed verification" rather than whatever the decoder hit.
    std::exception_ptr unpack_error;
    std::uint64_t extracted = 0;  // uncompressed bytes already counted in bocker_layer_extract_bytes_total
    for (;;) {
      while (l.queue.empty() && !l.download_done && !job.error) co_await l.wake.wait();
      if (job.error) co_return;
      if (l.queue.empty() && l.download_done) break;
      std::vector<std::string> batch;
      std::size_t bytes = 0;
      while (!l.queue.empty() && bytes < kBatchBytes) {
        bytes += l.queue.front().size();
        batch.push_back(std::move(l.queue.front()));
        l.queue.pop_front();
      }
      l.queued -= bytes;
      if (l.flow.paused() && l.queued < kMaxQueued) l.flow.resume();  // may deliver more at once
      LayerUnpacker* u = up.get();
      co_await rt::offload([u, &batch, &unpack_error] {
        std::size_t i = 0;
        if (!unpack_error) {
          try {
            for (; i < batch.size(); ++i) u->feed(std::as_bytes(std::span(batch[i].data(), batch[i].size())));
          } catch (...) {
            unpack_error = std::current_exception();
            ++i;  // feed() hashed the chunk it failed on
          }
        }
        for (; i < batch.size(); ++i) u->hash_only(std::as_bytes(std::span(batch[i].data(), batch[i].size())));
      });
      for (auto& piece : batch) job.recycle(std::move(piece));
      l.fed += static_cast<std::int64_t>(bytes);
      if (job.metrics != nullptr && u->uncompressed_bytes() > extracted) {
        job.metrics->layer_extract_bytes->Increment(static_cast<double>(u->uncompressed_bytes() - extracted));
        extracted = u->uncompressed_bytes();
      }
      if (!unpack_error && worth_reporting(l.fed, l.reported_extract, l.desc.size)) {
        l.reported_extract = l.fed;
        job.say_progress(l, "Extracting", l.fed);
      }
    }
    LayerUnpacker* u = up.get();
    co_await rt::offload([u, &unpack_error] {
      if (unpack_error) return;
      try {
        u->finish();
      } catch (...) {
        unpack_error = std::current_exception();
      }
    });
    dir.reset();
    std::string got = up->finish_hash();
    if (got != l.desc.digest) {
      std::string why;
      if (l.downloaded != l.desc.size) {
        why = " (" + std::to_string(l.downloaded) + " bytes received, the manifest says " + std::to_string(l.desc.size) + ")";
      }
      throw invalid("layer " + l.desc.digest + " failed verification: its content has digest " + got + why);
    }
    if (unpack_error) {
      try {
        std::rethrow_exception(unpack_error);
      } catch (const Error& e) {
        throw Error(e.kind(), "layer " + l.desc.digest + ": " + e.what());
      } catch (const std::exception& e) {
        throw Error("layer " + l.desc.digest + ": " + e.what());
      }
    }
    if (up->diff_id() != l.diff_id) {
      throw invalid("layer " + l.desc.digest + " unpacks to " + up->diff_id() + " but the image config expects " + l.diff_id);
    }
    if (parent != nullptr) {
      while (!parent->is_committed && !job.error) co_await parent->committed.wait();
      if (job.error) co_return;
    }
    co_await rt::offload([&drv, &id] { drv.commit_layer_unsynced(id); });
    l.begun = false;
    l.is_committed = true;
    l.committed.set();
    job.say(l, "Pull complete");
  } catch (...) {
    job.fail(std::current_exception());
  }
}

// overlay2: every missing layer is begun at once, in chain order (a layer needs its parent's
// directory), in one worker job, so that each one extracts (and bounds its queue) from its first
// bytes on instead of after the extraction jobs queued before its turn.
rt::Task<void> begin_all(Job& job) {
  storage::Driver& drv = job.svc->driver();
  std::vector<std::pair<std::string, std::string>> ids;  // layer, parent
  for (const auto& l : job.layers) {
    if (!l.exists) ids.emplace_back(l.layer_id, l.parent_id);
  }
  std::vector<Fd> dirs;
  std::exception_ptr err;
  co_await rt::offload([&drv, &ids, &dirs, &err] {
    try {
      for (const auto& [id, parent] : ids) dirs.push_back(drv.begin_layer(id, parent));
    } catch (...) {
      err = std::current_exception();
    }
  });
  std::size_t k = 0;
  for (auto& l : job.layers) {
    if (l.exists || k >= dirs.size()) continue;
    l.dir = std::move(dirs[k++]);
    l.begun = true;
    l.is_begun = true;
    l.begun_ev.set();
  }
  if (err) job.fail(err);
}

rt::Task<void> run_job(Job& job, bool ordered, unsigned downloads) {
  // Under the caller's scope: when the API client goes away the request is cancelled, and so
  // are the downloads (the failure path then removes the layers this pull began).
  rt::TaskScope scope(co_await rt::this_scope());
  job.scope = &scope;
  unsigned workers = std::max(1U, downloads);
  for (unsigned w = 0; w < workers; ++w) scope.spawn(download_worker(job));
  if (!ordered) co_await begin_all(job);
  Layer* parent = nullptr;
  for (auto& l : job.layers) {
    if (job.error) break;
    if (l.exists) {
      l.is_committed = true;
      parent = &l;
      continue;
    }
    scope.spawn(unpack_layer(job, l, parent, ordered));
    parent = &l;
  }
  co_await scope.join();
  job.scope = nullptr;
}

}  // namespace

rt::Task<void> ImageService::pull(api::PullRequest req, api::ProgressFn progress) {
  const auto pull_begin = std::chrono::steady_clock::now();  // bocker_image_pull_duration_seconds
  registry::Reference ref = registry::parse_reference(req.reference);
  registry::Platform want = req.platform.empty() ? registry::default_platform() : registry::parse_platform(req.platform);
  const std::string what = ref.digest.empty() ? ref.tag : ref.digest;
  // Insecure registries (localhost, 127.0.0.0/8, --insecure-registry) are tried over https first
  // and over plain http when https cannot connect, as docker does; the answer is remembered.
  const std::string api_host = registry::registry_api_host(ref.domain);
  bool plain_http = insecure(api_host) && plain_http_hosts_.contains(api_host);
  registry::RegistryClient* client = &client_for(ref.domain, req.registry_auth, plain_http);
  registry::ManifestResponse mr;
  bool retry_plain = false;
  try {
    mr = co_await client->get_manifest(ref.path, what);
  } catch (const registry::RegistryError& e) {
    // status 0: no HTTP answer. curl error 60: it is TLS, with a certificate we do not trust.
    if (plain_http || !insecure(api_host) || e.status() != 0 || std::string_view(e.what()).find("(curl error 60)") != std::string_view::npos) {
      throw;
    }
    retry_plain = true;
  }
  if (retry_plain) {
    client = &client_for(ref.domain, req.registry_auth, true);
    try {
      mr = co_await client->get_manifest(ref.path, what);
    } catch (const registry::RegistryError& e) {
      if (e.status() != 0) plain_http_hosts_.insert(api_host);  // it answers plain HTTP (401, 404...)
      throw;
    }
    plain_http_hosts_.insert(api_host);
  }
  if (engine_metrics != nullptr) engine_metrics->begin_pull(ref.domain);
  // Only now the first progress line: errors before it get their own HTTP status (404, 401...).
  progress({{"status", "Pulling from " + ref.path}, {"id", what}});
  auto doc = registry::parse_manifest(mr.body, mr.content_type);
  std::string manifest_digest = mr.digest;
  if (auto* index = std::get_if<registry::Index>(&doc)) {
    // A copy: `doc` (which holds the index) is overwritten below.
    const std::string chosen = registry::choose_platform(*index, want).digest;
    mr = co_await client->get_manifest(ref.path, chosen);
    doc = registry::parse_manifest(mr.body, mr.content_type);
    if (!std::holds_alternative<registry::Manifest>(doc)) throw invalid("manifest " + chosen + " of " + ref.str() + " is an index inside an index");
    manifest_digest = chosen;
  }
  const registry::Manifest& manifest = std::get<registry::Manifest>(doc);

  // The config: small, kept in the content store.
  std::string config_json;
  if (content_.has(manifest.config.digest)) {
    config_json = content_.read(manifest.config.digest);
  } else {
    std::string buf;
    registry::BlobSink sink;
    sink.write = [&buf](std::span<const std::byte> d) {
      if (buf.size() + d.size() > (64U << 20)) throw invalid("image config is larger than 64 MiB");
      buf.append(reinterpret_cast<const char*>(d.data()), d.size());
    };
    sink.reset = [&buf] { buf.clear(); };
    co_await client->get_blob(ref.path, manifest.config.digest, std::move(sink), 0);
    if (registry::sha256_digest(buf) != manifest.config.digest) {
      throw invalid("image config " + manifest.config.digest + " failed verification");
    }
    image::ContentStore& cs = content_;
    co_await rt::offload([&cs, &buf] { cs.put(buf); });
    config_json = std::move(buf);
  }
  registry::ImageConfig cfg = registry::parse_image_config(config_json);
  if (cfg.diff_ids.size() != manifest.layers.size()) {
    throw invalid("image " + ref.str() + ": the manifest has " + std::to_string(manifest.layers.size()) +
                  " layers but the config lists " + std::to_string(cfg.diff_ids.size()) + " diff_ids");
  }
  for (const auto& l : manifest.layers) (void)registry::layer_compression(l.media_type);  // unknown types fail here

  Job job;
  job.svc = this;
  job.metrics = engine_metrics;
  job.client = client;
  job.repo = ref.path;
  job.progress = progress;
  std::vector<std::string> chains = image::chain_ids(cfg.diff_ids);
  for (std::size_t i = 0; i < manifest.layers.size(); ++i) job.layers.emplace_back();
  storage::Driver& drv = *driver_;
  std::vector<std::string> layer_ids;
  for (const auto& c : chains) layer_ids.emplace_back(image::sha256_hex(c));
  std::vector<bool> have = co_await rt::offload([&drv, &layer_ids] {
    std::vector<bool> h;
    for (const auto& id : layer_ids) h.push_back(drv.has_layer(id));
    return h;
  });
  for (std::size_t i = 0; i < job.layers.size(); ++i) {
    Layer& l = job.layers[i];
    l.index = i;
    l.desc = manifest.layers[i];
    l.diff_id = cfg.diff_ids[i];
    l.layer_id = layer_ids[i];
    l.parent_id = i == 0 ? std::string() : layer_ids[i - 1];
    l.short_id = image::short_id(l.desc.digest);
    l.exists = have[i];
    job.say(l, l.exists ? "Already exists" : "Pulling fs layer");
  }
  std::string image_id = registry::sha256_digest(config_json);
  bool had_image = images_.find(image_id).has_value();

  // btrfs layers snapshot their parent: unpack in order. overlay2 layers unpack in parallel and
  // commit in order.
  bool ordered = drv.whiteout_mode() == image::WhiteoutMode::kApply;
  co_await run_job(job, ordered, opts_.max_concurrent_downloads);
  if (job.error) {
    std::vector<std::string> begun;
    for (auto& l : job.layers) {
      l.dir.reset();  // begun ahead, never extracted into
      if (l.begun) begun.push_back(l.layer_id);
    }
    co_await rt::offload([&drv, &begun] {
      for (auto it = begun.rbegin(); it != begun.rend(); ++it) {  // children first
        const std::string& id = *it;
        try {
          drv.abort_layer(id);
        } catch (const std::exception& e) {
          log_line("pull: cannot remove incomplete layer " + id + ": " + e.what());
        }
      }
    });
    std::rethrow_exception(job.error);
  }

  image::ImageRecord rec;
  rec.id = image_id;
  rec.config_json = config_json;
  rec.diff_ids = cfg.diff_ids;
  rec.chain_ids = chains;
  for (const auto& l : manifest.layers) rec.layer_digests.push_back(l.digest);
  if (ref.digest.empty()) rec.repo_tags = {ref.str()};
  rec.repo_digests = {ref.name() + "@" + manifest_digest};
  rec.created = static_cast<std::int64_t>(std::time(nullptr));
  rec.manifest_digest = manifest_digest;
  std::int64_t size = 0;
  for (const auto& l : manifest.layers) size += l.size;
  rec.size = size;
  if (had_image) {
    auto old = images_.get(image_id);
    rec.created = old.created;
    for (const auto& t : old.repo_tags) rec.repo_tags.push_back(t);
    for (const auto& d : old.repo_digests) {
      if (d != rec.repo_digests[0]) rec.repo_digests.push_back(d);
    }
  }
  image::ImageStore& store = images_;
  // Every layer of the image durable (one syncfs for all those this pull, or an earlier one that
  // failed or still runs, committed unsynced), and only then the record that names them.
  if (!layer_ids.empty()) {
    const std::string& top = layer_ids.back();
    co_await rt::offload([&drv, &top] { drv.sync_layers(top); });
  }
  co_await rt::offload([&store, &rec] { store.put(rec); });
  if (engine_metrics != nullptr) {
    std::uint64_t bytes = 0;
    for (const auto& l : job.layers) bytes += static_cast<std::uint64_t>(l.downloaded);
    engine_metrics->observe_pull(ref.domain,
                                 std::chrono::duration<double>(std::chrono::steady_clock::now() - pull_begin).count(),
                                 bytes);
  }
  progress({{"status", "Digest: " + manifest_digest}});
  progress({{"status", std::string(had_image ? "Status: Image is up to date for " : "Status: Downloaded newer image for ") +
                           ref.familiar()}});
}

}  // namespace bocker::daemon
