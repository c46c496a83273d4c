#include "bocker/image/image_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "bocker/image/ids.hpp"
#include "bocker/registry/digest.hpp"
#include "bocker/registry/reference.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/fd.hpp"
#include "bocker/runtime/file.hpp"

namespace bocker::image {
namespace {

using json = nlohmann::json;
constexpr std::string_view kIndexName = "repositories.json";

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Canonical tag reference ("docker.io/library/alpine:latest"); kInvalid for digest references.
std::string canonical_tag(std::string_view text) {
  registry::Reference r = registry::parse_reference(text);
  if (!r.digest.empty()) {
    throw invalid("cannot tag with a digest reference: \"" + std::string(text) + "\" (use name:tag)");
  }
  return r.name() + ":" + r.tag;
}

// Canonical digest reference ("docker.io/library/alpine@sha256:...").
std::string canonical_repo_digest(std::string_view text) {
  registry::Reference r = registry::parse_reference(text);
  if (r.digest.empty()) throw invalid("repo digest \"" + std::string(text) + "\" has no @digest");
  return r.name() + "@" + r.digest;
}

// Checks and normalises a record; throws kInvalid naming the image and the field.
void validate(ImageRecord& rec) {
  sha256_hex(rec.id, "image id");
  std::string got = registry::sha256_digest(rec.config_json);
  if (got != rec.id) throw invalid("image " + rec.id + ": config digest is " + got + ", not the image id");
  for (const auto& d : rec.diff_ids) sha256_hex(d, "diff id");
  for (const auto& d : rec.layer_digests) {
    if (!registry::is_valid_digest(d)) sha256_hex(d, "layer");  // throws with the reason
  }
  if (!rec.layer_digests.empty() && rec.layer_digests.size() != rec.diff_ids.size()) {
    throw invalid("image " + rec.id + ": " + std::to_string(rec.layer_digests.size()) +
                  " layer digests for " + std::to_string(rec.diff_ids.size()) + " diff ids");
  }
  auto chains = chain_ids(rec.diff_ids);
  if (rec.chain_ids.empty()) {
    rec.chain_ids = std::move(chains);
  } else if (rec.chain_ids != chains) {
    throw invalid("image " + rec.id + ": chain ids do not match the diff ids");
  }
  if (!rec.manifest_digest.empty() && !registry::is_valid_digest(rec.manifest_digest)) {
    sha256_hex(rec.manifest_digest, "manifest");
  }
  for (auto& t : rec.repo_tags) t = canonical_tag(t);
  for (auto& d : rec.repo_digests) d = canonical_repo_digest(d);
  std::sort(rec.repo_digests.begin(), rec.repo_digests.end());
  rec.repo_digests.erase(std::unique(rec.repo_digests.begin(), rec.repo_digests.end()),
                         rec.repo_digests.end());
  if (rec.size < 0) throw invalid("image " + rec.id + ": negative size");
}

json to_json(const ImageRecord& r) {
  return json{{"id", r.id},
              {"config", r.config_json},
              {"diff_ids", r.diff_ids},
              {"chain_ids", r.chain_ids},
              {"layer_digests", r.layer_digests},
              {"repo_digests", r.repo_digests},
              {"created", r.created},
              {"size", r.size},
              {"manifest_digest", r.manifest_digest}};
}

ImageRecord from_json(const json& j) {
  if (!j.is_object()) throw invalid("not a JSON object");
  ImageRecord r;
  r.id = j.at("id").get<std::string>();
  r.config_json = j.at("config").get<std::string>();
  r.diff_ids = j.at("diff_ids").get<std::vector<std::string>>();
  r.chain_ids = j.at("chain_ids").get<std::vector<std::string>>();
  r.layer_digests = j.value("layer_digests", std::vector<std::string>{});
  r.repo_digests = j.value("repo_digests", std::vector<std::string>{});
  r.created = j.value("created", std::int64_t{0});
  r.size = j.value("size", std::int64_t{0});
  r.manifest_digest = j.value("manifest_digest", std::string{});
  return r;
}

void unlink_and_sync(const std::string& path, const std::string& dir) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return;
    throw SystemError(errno, "remove", path);
  }
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "open directory", dir);
  if (::fsync(fd.get()) != 0) throw SystemError(errno, "fsync directory", dir);
}

}  // namespace

ImageStore::ImageStore(std::string root, Warn warn)
    : dir_(std::move(root) + "/images"), warn_(std::move(warn)) {
  make_dirs(dir_, 0700);
  load();
}

void ImageStore::warn(const std::string& msg) const {
  if (warn_) warn_(msg);
}

std::string ImageStore::record_path(std::string_view id) const {
  return dir_ + "/" + std::string(sha256_hex(id, "image id")) + ".json";
}

void ImageStore::load() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) throw SystemError(ec.value(), "read directory", dir_);
  std::sort(names.begin(), names.end());

  for (const auto& name : names) {
    std::string path = dir_ + "/" + name;
    if (name.find(".tmp-") != std::string::npos) {
      warn("removing leftover temporary file " + path);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw SystemError(errno, "remove", path);
      continue;
    }
    if (name.size() != 64 + 5 || !name.ends_with(".json") || !is_lower_hex(name.substr(0, 64))) continue;
    try {
      ImageRecord rec = from_json(json::parse(read_file(path)));
      validate(rec);
      if (rec.id != "sha256:" + name.substr(0, 64))
        throw invalid("record id " + rec.id + " does not match the file name");
      images_[rec.id] = std::move(rec);
    } catch (const std::exception& e) {
      warn("skipping corrupt image record " + path + ": " + e.what());
    }
  }

  std::string index_path = dir_ + "/" + std::string(kIndexName);
  std::string text;
  try {
    text = read_file(index_path);
  } catch (const SystemError& e) {
    if (e.code().value() != ENOENT) throw;
    return;
  }
  json j;
  try {
    j = json::parse(text);
    if (!j.is_object()) throw invalid("not a JSON object");
  } catch (const std::exception& e) {
    std::string aside = index_path + ".corrupt";
    warn("tag index " + index_path + " is corrupt (" + e.what() + "); moved to " + aside +
         ", all images are untagged");
    if (::rename(index_path.c_str(), aside.c_str()) != 0)
      throw SystemError(errno, "rename " + index_path + " to", aside);
    return;
  }
  bool dropped = false;
  for (const auto& [ref, value] : j.items()) {
    try {
      if (!value.is_string()) throw invalid("value is not a string");
      std::string id = value.get<std::string>();
      std::string canon = canonical_tag(ref);
      if (canon != ref) throw invalid("not canonical (" + canon + ")");
      if (!images_.contains(id)) throw invalid("image " + id + " is not in the store");
      tags_[canon] = id;
    } catch (const std::exception& e) {
      warn("dropping tag " + ref + " from " + index_path + ": " + e.what());
      dropped = true;
    }
  }
  if (dropped) {
    try {
      save_index_locked();
    } catch (const std::exception& e) {
      warn(std::string("cannot rewrite the tag index: ") + e.what());
    }
  }
}

void ImageStore::save_index_locked() {
  json j = json::object();
  for (const auto& [ref, id] : tags_) j[ref] = id;
  write_file_atomic(dir_ + "/" + std::string(kIndexName), j.dump(2) + "\n", 0600);
}

void ImageStore::write_record_locked(const ImageRecord& rec) {
  write_file_atomic(record_path(rec.id), to_json(rec).dump() + "\n", 0600);
}

ImageRecord ImageStore::with_tags_locked(const ImageRecord& rec) const {
  ImageRecord out = rec;
  out.repo_tags.clear();
  for (const auto& [ref, id] : tags_) {
    if (id == rec.id) out.repo_tags.push_back(ref);  // map order: sorted
  }
  return out;
}

void ImageStore::put(ImageRecord rec) {
  validate(rec);
  std::vector<std::string> want_tags = std::move(rec.repo_tags);
  rec.repo_tags.clear();
  std::lock_guard lock(mu_);
  write_record_locked(rec);
  std::string id = rec.id;
  images_[id] = std::move(rec);
  auto old = tags_;
  bool changed = false;
  for (const auto& t : want_tags) {
    auto& slot = tags_[t];
    if (slot != id) {
      slot = id;
      changed = true;
    }
  }
  if (!changed) return;
  try {
    save_index_locked();
  } catch (...) {
    tags_ = std::move(old);  // the image is stored, untagged, as open() would find it
    throw;
  }
}

std::optional<ImageRecord> ImageStore::find(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = images_.find(id);
  if (it == images_.end()) return std::nullopt;
  return with_tags_locked(it->second);
}

ImageRecord ImageStore::get(std::string_view id) const {
  auto rec = find(id);
  if (!rec) throw not_found("No such image: " + std::string(id));
  return std::move(*rec);
}

std::vector<ImageRecord> ImageStore::list() const {
  std::lock_guard lock(mu_);
  std::vector<ImageRecord> out;
  out.reserve(images_.size());
  for (const auto& [id, rec] : images_) out.push_back(with_tags_locked(rec));
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.created > b.created; });
  return out;
}

std::size_t ImageStore::count() const {
  std::lock_guard lock(mu_);
  return images_.size();
}

std::map<std::string, std::string> ImageStore::tags() const {
  std::lock_guard lock(mu_);
  return {tags_.begin(), tags_.end()};
}

std::string ImageStore::tag(std::string_view id, std::string_view ref) {
  std::string canon = canonical_tag(ref);
  std::lock_guard lock(mu_);
  if (!images_.contains(id)) throw not_found("No such image: " + std::string(id));
  auto it = tags_.find(canon);
  if (it != tags_.end() && it->second == id) return canon;
  auto old = tags_;
  tags_[canon] = std::string(id);
  try {
    save_index_locked();
  } catch (...) {
    tags_ = std::move(old);
    throw;
  }
  return canon;
}

std::string ImageStore::untag(std::string_view ref) {
  std::string canon = canonical_tag(ref);
  std::lock_guard lock(mu_);
  auto it = tags_.find(canon);
  if (it == tags_.end()) throw not_found("No such image: " + registry::parse_reference(canon).familiar());
  std::string id = it->second;
  auto old = tags_;
  tags_.erase(canon);
  try {
    save_index_locked();
  } catch (...) {
    tags_ = std::move(old);
    throw;
  }
  return id;
}

std::vector<std::string> ImageStore::remove(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = images_.find(id);
  if (it == images_.end()) throw not_found("No such image: " + std::string(id));
  // Tags first: a crash before the record is deleted leaves a dangling image, never a tag to nothing.
  auto old = tags_;
  bool had_tags = std::erase_if(tags_, [&](const auto& kv) { return kv.second == id; }) > 0;
  if (had_tags) {
    try {
      save_index_locked();
    } catch (...) {
      tags_ = std::move(old);
      throw;
    }
  }
  unlink_and_sync(record_path(id), dir_);
  ImageRecord gone = std::move(it->second);
  images_.erase(it);

  std::set<std::string, std::less<>> in_use;
  for (const auto& [other, rec] : images_) in_use.insert(rec.chain_ids.begin(), rec.chain_ids.end());
  std::vector<std::string> unused;
  for (const auto& c : gone.chain_ids) {
    if (!in_use.contains(c) && std::find(unused.begin(), unused.end(), c) == unused.end())
      unused.push_back(c);
  }
  return unused;
}

std::string ImageStore::resolve(std::string_view name_or_id) const {
  std::lock_guard lock(mu_);
  return resolve_locked(name_or_id);
}

std::string ImageStore::resolve_locked(std::string_view s) const {
  if (s.empty()) throw invalid("empty image name or id");
  std::string missing = "No such image: " + std::string(s);

  auto by_prefix = [&](std::string_view hex) -> std::string {
    std::string key = "sha256:" + std::string(hex);
    auto it = images_.lower_bound(key);
    if (it == images_.end() || !it->first.starts_with(key)) throw not_found(missing);
    auto next = std::next(it);
    if (next != images_.end() && next->first.starts_with(key)) {
      throw invalid("multiple IDs found with provided prefix: " + std::string(s));
    }
    return it->first;
  };

  if (s.starts_with("sha256:")) {
    std::string_view hex = s.substr(7);
    if (hex.empty() || hex.size() > 64 || !is_lower_hex(hex)) throw not_found(missing);
    return by_prefix(hex);
  }
  if (s.size() == 64 && is_lower_hex(s)) {
    std::string id = "sha256:" + std::string(s);
    if (images_.contains(id)) return id;
    throw not_found(missing);
  }
  std::optional<registry::Reference> ref;
  try {
    ref = registry::parse_reference(s);
  } catch (const Error&) {
    // Not a reference; may still be an id prefix below.
  }
  if (ref) {
    if (!ref->digest.empty()) {
      std::string want = ref->name() + "@" + ref->digest;
      for (const auto& [id, rec] : images_) {
        if (std::find(rec.repo_digests.begin(), rec.repo_digests.end(), want) != rec.repo_digests.end())
          return id;
      }
    } else if (auto it = tags_.find(ref->name() + ":" + ref->tag); it != tags_.end()) {
      return it->second;
    }
  }
  if (is_lower_hex(s)) return by_prefix(s);
  throw not_found(missing);
}

}  // namespace bocker::image
